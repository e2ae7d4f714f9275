// parse_request: RFC 9112 request heads, strictly (see parser.h).
#include <algorithm>
#include <cstring>

#include "http1/fields.h"
#include "http1/parser.h"

namespace gh::http1 {

using namespace detail;

void RequestHead::clear() {
  method = {};
  target = {};
  version_minor = 1;
  headers.clear();  // keeps capacity: no allocation on the next parse
  head_size = 0;
  path = {};
  authority = {};
  host = {};
  body = BodyKind::none;
  content_length = 0;
  conn_close = false;
  conn_keep_alive = false;
  conn_upgrade = false;
  upgrade = {};
  expect_continue = false;
  expect_other = false;
}

namespace {

ParseStatus fail(ParseError& err, int status, const char* detail) {
  err.status = status;
  err.detail = detail;
  return ParseStatus::error;
}

// Fills path/authority from out.target according to its form (RFC 9112 3.2).
// Accepts origin-form, absolute-form (http/https, no userinfo), "*" for
// OPTIONS, authority-form (host:port) for CONNECT only.
// Refuses any other shape, and absolute-form with a query but no path
// (its path would have to be synthesized as "/?q").
const char* classify_target(RequestHead& out) {
  const std::string_view t = out.target;
  if (out.method == "CONNECT") {
    if (!valid_authority(t, true)) return "connect needs authority-form target";
    out.authority = t;
    return nullptr;
  }
  if (t[0] == '/') {
    out.path = t;
    return nullptr;
  }
  if (t == "*") {
    if (out.method != "OPTIONS") return "asterisk-form only with options";
    out.path = t;
    return nullptr;
  }
  size_t skip = 0;
  if (t.size() >= 7 && iequals(t.substr(0, 7), "http://"))
    skip = 7;
  else if (t.size() >= 8 && iequals(t.substr(0, 8), "https://"))
    skip = 8;
  else
    return "invalid request-target";
  const std::string_view rest = t.substr(skip);
  const size_t cut = rest.find_first_of("/?");
  const std::string_view auth = rest.substr(0, cut);
  if (!valid_authority(auth, false)) return "invalid authority in request-target";
  if (cut == std::string_view::npos)
    out.path = "/";
  else if (rest[cut] == '?')
    return "absolute-form query without path";
  else
    out.path = rest.substr(cut);
  out.authority = auth;
  return nullptr;
}

// Parses the request-line in [p, e). With `complete` the range is the whole
// line without its CRLF; without, it is all that has arrived so far and only
// errors that no later byte could fix are reported (else incomplete).
ParseStatus parse_request_line(const char* p, const char* e, bool complete, RequestHead& out,
                               ParseError& err) {
  // A trailing CR may be the first half of the line's CRLF.
  if (!complete && e > p && e[-1] == '\r') --e;
  const char* m = p;
  p = scan_token(p, e);
  if (p == e) return complete ? fail(err, 400, "invalid request line") : ParseStatus::incomplete;
  if (*p != ' ' || p == m) return fail(err, 400, "invalid method");
  out.method = std::string_view(m, static_cast<size_t>(p - m));
  const char* t = ++p;
  p = scan_target(p, e);
  if (p == e) return complete ? fail(err, 400, "missing http version") : ParseStatus::incomplete;
  if (p == t) return fail(err, 400, "empty request-target");
  if (*p != ' ') return fail(err, 400, "invalid character in request-target");
  out.target = std::string_view(t, static_cast<size_t>(p - t));
  ++p;
  const size_t r = static_cast<size_t>(e - p);
  static constexpr char kProto[] = "HTTP/";
  if (!complete) {
    // Prefix check of "HTTP/" DIGIT "." DIGIT; 505 waits for the whole line.
    if (r > 8) return fail(err, 400, "invalid http version");
    for (size_t i = 0; i < r; ++i) {
      const char c = p[i];
      const bool ok = i < 5 ? c == kProto[i] : i == 6 ? c == '.' : has(c, kDigit);
      if (!ok) return fail(err, 400, "invalid http version");
    }
    return ParseStatus::incomplete;
  }
  if (r != 8 || std::memcmp(p, kProto, 5) != 0 || !has(p[5], kDigit) || p[6] != '.' ||
      !has(p[7], kDigit))
    return fail(err, 400, "invalid http version");
  if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) return fail(err, 505, "http version not supported");
  out.version_minor = p[7] - '0';
  if (const char* d = classify_target(out)) return fail(err, 400, d);
  return ParseStatus::complete;
}

}  // namespace

ParseStatus parse_request(std::string_view buf, RequestHead& out, const Limits& lim,
                          ParseError& err) {
  out.clear();
  const char* const b = buf.data();
  const size_t n = buf.size();

  // RFC 9112 2.2: ignore one empty line before the request-line (old clients
  // send a CRLF after a POST body). Only one: more is not a request.
  size_t start = 0;
  if (n > 0 && b[0] == '\r') {
    if (n == 1) return ParseStatus::incomplete;
    if (b[1] != '\n') return fail(err, 400, "bare cr");
    start = 2;
  }

  // Only the first max_head bytes can hold an acceptable head.
  const size_t scan_n = std::min(n, lim.max_head);
  const HeadEnd he = find_head_end(b, start, scan_n);
  if (he.bare_lf) return fail(err, 400, "bare lf");

  const bool line_done = he.first_lf != kNotFound;
  const char* const line_end = line_done ? b + he.first_lf - 1 : b + std::max(start, scan_n);
  const ParseStatus st = parse_request_line(b + start, line_end, line_done, out, err);
  if (st == ParseStatus::error) return st;
  if (he.end == 0) {
    if (n >= lim.max_head)
      return line_done ? fail(err, 431, "request header section too large")
                       : fail(err, 414, "request-line too long");
    return ParseStatus::incomplete;
  }

  const char* p = line_end + 2;
  const char* const e = b + he.end;
  bool have_host = false, have_cl = false, have_te = false, have_upgrade = false;
  std::string_view host_value;
  const char* detail = "";
  while (p < e && *p != '\r') {
    if (out.headers.size() >= lim.max_headers) return fail(err, 431, "too many header fields");
    Header& h = out.headers.emplace_back();
    p = parse_field_line(p, e, h, detail);
    if (p == nullptr) return fail(err, 400, detail);
    // Dispatch on length first so most fields cost one switch.
    switch (h.name.size()) {
      case 4:
        if (iequals(h.name, "host")) {
          if (have_host) return fail(err, 400, "duplicate host");
          have_host = true;
          host_value = h.value;
          if (!(host_value.empty() ? out.version_minor == 0 : valid_authority(host_value, false)))
            return fail(err, 400, "invalid host");
        }
        break;
      case 6:
        if (iequals(h.name, "expect")) {
          // RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored.
          if (iequals(h.value, "100-continue"))
            out.expect_continue = out.version_minor >= 1;
          else
            out.expect_other = true;
        }
        break;
      case 7:
        if (iequals(h.name, "upgrade")) {
          if (have_upgrade) return fail(err, 400, "duplicate upgrade");
          have_upgrade = true;
          out.upgrade = h.value;
        }
        break;
      case 10:
        if (iequals(h.name, "connection"))
          apply_connection(h.value, out.conn_close, out.conn_keep_alive, out.conn_upgrade);
        break;
      case 14:
        if (iequals(h.name, "content-length")) {
          if (have_cl) return fail(err, 400, "duplicate content-length");
          have_cl = true;
          if (!parse_content_length(h.value, out.content_length))
            return fail(err, 400, "invalid content-length");
        } else if (iequals(h.name, "content_length")) {
          // Some backends (CGI-style) fold '_' into '-': a second framing header.
          return fail(err, 400, "underscore in content-length name");
        }
        break;
      case 17:
        if (iequals(h.name, "transfer-encoding")) {
          if (have_te) return fail(err, 400, "duplicate transfer-encoding");
          have_te = true;
          if (!iequals(h.value, "chunked")) return fail(err, 400, "unsupported transfer-encoding");
        } else if (iequals(h.name, "transfer_encoding")) {
          return fail(err, 400, "underscore in transfer-encoding name");
        }
        break;
      default:
        break;
    }
  }
  // The scan guarantees the head ends in CRLF CRLF right here; anything
  // else is a CR not followed by LF.
  if (p + 2 != e || p[1] != '\n') return fail(err, 400, "bare cr");

  if (out.version_minor == 1 && !have_host) return fail(err, 400, "missing host");
  if (have_te) {
    if (have_cl) return fail(err, 400, "content-length with transfer-encoding");
    if (out.version_minor == 0) return fail(err, 400, "transfer-encoding on http/1.0");
    out.body = BodyKind::chunked;
  } else if (have_cl) {
    out.body = BodyKind::content_length;
  }
  out.host = out.authority.empty() ? host_value : out.authority;
  out.head_size = he.end;
  return ParseStatus::complete;
}

}  // namespace gh::http1
