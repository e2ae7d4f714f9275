// Header fields we send, checked and made HTTP/2-shaped (internal to
// src/http2): the nghttp2_nv array handed to nghttp2_submit_*.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/exchange.h"

namespace gh::http2 {

// Rules (RFC 9113 8.2): names lowercased; connection-specific fields dropped
// (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade; TE
// unless it is "trailers" in a request); Host dropped from a request that
// has an :authority (8.3.1); leading and trailing SP/HTAB of values trimmed.
// Refused (add() returns false, nothing to send): an empty name, a name
// with a byte outside RFC 9110 tchar (so ":" too: callers cannot smuggle
// pseudo-header fields), a value with NUL, CR or LF.
class OutFields {
 public:
  // Adds a pseudo-header field (":status", ":method", ...), unchecked.
  void pseudo(std::string_view name, std::string_view value);
  // Adds the caller's fields under the rules above.
  bool add(std::span<const http::Field> fields, bool request, bool has_authority);
  void clear();
  // The array for nghttp2, valid until the next change; nghttp2 copies it.
  const nghttp2_nv* nva();
  size_t size() const { return spans_.size(); }

 private:
  struct Span {
    uint32_t name_at, name_len, value_at, value_len;
  };
  void push(std::string_view name, std::string_view value, bool lower);

  std::string bytes_;  // names (lowercased) and values, back to back
  std::vector<Span> spans_;
  std::vector<nghttp2_nv> nv_;
};

// True when `name` (lowercase) is a connection-specific field RFC 9113 8.2.2
// forbids in HTTP/2 (TE is decided by the caller).
bool connection_specific(std::string_view name);

}  // namespace gh::http2
