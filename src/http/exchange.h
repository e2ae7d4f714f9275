// The protocol-neutral view of one exchange (RFC 9110 terms): a request head
// and a response head as method, scheme, authority, path and fields, with no
// trace of HTTP/1 framing. Codecs (src/http1 today, HTTP/2 next) fill these
// from their own parsed messages; routing and the policies (src/policy) only
// ever see these, so a new protocol plugs in without touching them.
//
// Views only: the strings point into the codec's buffers, which the codec
// keeps alive and unmoved for the duration of the phase that uses them.
#pragma once

#include <span>
#include <string_view>

namespace gh::http {

// One field line (RFC 9110 5): name as sent (case kept), value without
// leading or trailing whitespace.
struct Field {
  std::string_view name;
  std::string_view value;
};

// Case-insensitive ASCII comparison of field names and tokens.
bool iequals(std::string_view a, std::string_view b);

// The value of the first field named `name` (case-insensitive); empty with
// `found` false when there is none. Repeated fields are not combined.
std::string_view find_field(std::span<const Field> fields, std::string_view name,
                            bool* found = nullptr);

// The request as it arrived, before any rule of ours changed it.
struct RequestHead {
  std::string_view method;        // "GET"
  std::string_view scheme;        // "http" / "https": how the client reached us
  std::string_view authority;     // Host (HTTP/1.1) or :authority (HTTP/2); may be empty
  std::string_view path;          // origin-form target as sent, query included; "*" for OPTIONS *
  std::string_view normalized;    // path in http::normalize_path form (what routes and policies match)
  std::span<const Field> fields;  // in arrival order, framing and hop-by-hop fields included
  std::span<const Field> trailers;
  int version = 11;               // 10, 11, 20: for logs and for rules that differ per version
  // False when no content follows the head: HTTP/1 without Content-Length
  // or Transfer-Encoding (RFC 9112 6.3), HTTP/2 with END_STREAM on HEADERS,
  // and upgrades (tunnel bytes are not content). True when unknown.
  bool has_content = true;
};

// A response head from a backend (or about to be made by us).
struct ResponseHead {
  int status = 0;
  std::string_view reason;
  std::span<const Field> fields;
};

}  // namespace gh::http
