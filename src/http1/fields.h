// Pieces shared by the request parser, the response parser and the chunked
// decoder: finding the end of a head, field lines, list values,
// Content-Length and authority syntax. Internal to the http1 layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http1/chars.h"
#include "http1/parser.h"

namespace gh::http1::detail {

inline constexpr size_t kNotFound = static_cast<size_t>(-1);

struct HeadEnd {
  size_t end = 0;               // offset just past the CRLF CRLF; 0 if not found
  size_t first_lf = kNotFound;  // offset of the LF ending the start line, if seen
  bool bare_lf = false;         // an LF not preceded by CR was seen before the end
};

// Looks for the first empty line in b[start, n). Checks every LF it passes
// (each must follow a CR) so a bare LF is reported even before the head is
// complete. Only LFs are examined, 16 bytes at a time, so re-running it on a
// growing buffer stays cheap.
HeadEnd find_head_end(const char* b, size_t start, size_t n);

// Parses one field line "name:OWS value OWS CRLF" starting at p; `e` bounds
// the bytes that may be read. Accepts: a non-empty token name directly
// followed by ':', a value of VCHAR/SP/HTAB/obs-text. Refuses: obs-fold (line
// starting with SP/HTAB), whitespace before ':', non-token names, NUL/CTL/DEL
// in the value, bare CR or LF, a line not ending in CRLF before e.
// Returns the position after the CRLF, or nullptr with `detail` set.
const char* parse_field_line(const char* p, const char* e, Header& h, const char*& detail);

// Content-Length value: one or more ASCII digits (leading zeros allowed, read
// as decimal), at most 2^62. Refuses empty, signs, spaces, hex, lists.
bool parse_content_length(std::string_view v, uint64_t& out);

// uri-host [":" port] as in Host, absolute-form and authority-form.
// Accepts: reg-name (unreserved / sub-delims / pct-encoded), IPv4, "[IPv6]"
// (hex digits, ':' and '.'), port of 1-5 digits up to 65535.
// Refuses: empty host, userinfo ('@'), '/', spaces, empty port, IPvFuture and
// zone ids; a missing port when `require_port`.
bool valid_authority(std::string_view a, bool require_port);

inline std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  return v;
}

// Calls f(element) for each element of a comma-separated list, OWS trimmed;
// empty elements are skipped (RFC 9110 5.6.1.2).
template <class F>
void for_each_list_element(std::string_view list, F&& f) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view el = trim_ows(list.substr(0, comma));
    if (!el.empty()) f(el);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

inline bool is_token(std::string_view s) {
  return !s.empty() && scan_token(s.data(), s.data() + s.size()) == s.data() + s.size();
}

// Sets the flags named by one Connection header value (a list).
inline void apply_connection(std::string_view v, bool& close, bool& keep_alive, bool& upgrade) {
  for_each_list_element(v, [&](std::string_view el) {
    if (iequals(el, "close"))
      close = true;
    else if (iequals(el, "keep-alive"))
      keep_alive = true;
    else if (iequals(el, "upgrade"))
      upgrade = true;
  });
}

}  // namespace gh::http1::detail
