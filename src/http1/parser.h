// Strict, zero-copy HTTP/1.1 head parsers (RFC 9112). Sans-I/O: they look at
// bytes and fill a head whose string_views point into those bytes; the caller
// keeps the bytes alive and unmoved while it uses the head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/exchange.h"

namespace gh::http1 {

// A field line: name as sent (case kept), value with leading/trailing OWS removed.
using Header = http::Field;
using http::iequals;

enum class ParseStatus { complete, incomplete, error };

struct ParseError {
  int status = 400;               // 400, 414, 431, 501, 505 (requests); 502 (responses)
  const char* detail = "";        // short, static, lower-case: "duplicate content-length"
};

// Which framing a message body has.
enum class BodyKind {
  none,            // no body (no CL/TE on a request; HEAD/1xx/204/304 responses)
  content_length,  // exactly content_length bytes
  chunked,         // chunked transfer coding (the only coding we accept on requests)
  until_close,     // response without CL/TE: body ends when the connection closes
};

struct RequestHead {
  std::string_view method;
  std::string_view target;        // as sent
  int version_minor = 1;          // HTTP/1.0 -> 0, HTTP/1.1 -> 1
  std::vector<Header> headers;    // in arrival order
  size_t head_size = 0;           // bytes up to and including the final CRLF CRLF

  // Derived while parsing.
  std::string_view path;          // origin-form "/p?q" (absolute-form: its path part, "/" if empty;
                                  // "*" for asterisk-form; empty for CONNECT)
  std::string_view authority;     // absolute-form or authority-form (CONNECT) authority, empty otherwise
  std::string_view host;          // authority when absolute- or authority-form (CONNECT), else the Host header
  BodyKind body = BodyKind::none; // none, content_length or chunked
  uint64_t content_length = 0;
  // Connection flags gathered from every Connection header (it is a list).
  bool conn_close = false;        // Connection: close
  bool conn_keep_alive = false;   // Connection: keep-alive
  bool conn_upgrade = false;      // Connection: upgrade
  std::string_view upgrade;       // Upgrade header value
  bool expect_continue = false;   // Expect: 100-continue
  bool expect_other = false;      // an Expect value other than 100-continue: answer 417

  bool keep_alive() const {
    return version_minor >= 1 ? !conn_close : conn_keep_alive && !conn_close;
  }
  void clear();
};

struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string_view reason;
  std::vector<Header> headers;
  size_t head_size = 0;

  BodyKind body = BodyKind::until_close;  // see parse_response
  uint64_t content_length = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  std::string_view upgrade;
  bool te_other_codings = false;  // Transfer-Encoding listed codings besides chunked (e.g. gzip)

  // Whether the backend lets the connection be reused after this response.
  bool keep_alive() const { return version_minor >= 1 ? !conn_close : conn_keep_alive && !conn_close; }
  void clear();
};

struct Limits {
  size_t max_head = 32 * 1024;    // whole head, request/status line included
  size_t max_headers = 256;       // header field count
};

// Parses a request head at the start of `buf`.
// Accepts: origin-form, absolute-form (http/https, no userinfo), asterisk-form
// (OPTIONS), authority-form host:port (CONNECT only); HTTP/1.0 and 1.1; lines
// ending in CRLF; one empty line (CRLF) before the request-line, which is
// skipped and counted in head_size (RFC 9112 2.2).
// Refuses (error, connection must close): bare LF or CR, obs-fold, NUL/CTL in
// fields, spaces around header names, invalid tokens, a request-target with
// CTL/SP/'#'/bytes >= 0x80, absolute-form with a query but no path,
// missing/duplicate/bad Host on 1.1 (duplicate on 1.0 too), CL+TE, duplicate,
// non-digit or > 2^62 Content-Length, any Transfer-Encoding other than
// exactly "chunked" (once), TE on HTTP/1.0, a second Upgrade, the names
// Content_Length / Transfer_Encoding (400); request line longer than max_head
// (414); head longer than max_head or more than max_headers fields (431);
// HTTP/x.y other than 1.0 and 1.1 (505).
// `incomplete` means: no full head yet and nothing wrong so far. Until the
// head is complete only the request-line, bare LFs and the size are checked,
// so re-running on a growing buffer costs a 16-byte-stride scan.
ParseStatus parse_request(std::string_view buf, RequestHead& out, const Limits& lim,
                          ParseError& err);

// Parses a response head. `request_method_head` and the status decide body
// framing (RFC 9112 6.3): HEAD, 1xx, 204 and 304 have no body; otherwise TE
// whose final coding is chunked -> chunked (other codings such as gzip are
// allowed and flagged in te_other_codings), TE not ending in chunked ->
// until_close, CL -> content_length, else until_close. A 2xx to CONNECT is
// the caller's business. Accepts "HTTP/1.0" / "HTTP/1.1", status 100-599, an
// empty reason with or without its SP.
// Refuses (status 502): malformed status line or reason, bad fields (same
// rules as requests), CL+TE (even on HEAD/1xx/204/304), any duplicate or
// malformed Content-Length, chunked listed twice, non-token codings, TE on
// HTTP/1.0, a second Upgrade, oversized head or too many fields.
ParseStatus parse_response(std::string_view buf, ResponseHead& out, bool request_method_head,
                           const Limits& lim, ParseError& err);

// True if the comma-separated list `list` contains `token` (case-insensitive, OWS trimmed).
bool list_contains(std::string_view list, std::string_view token);

}  // namespace gh::http1
