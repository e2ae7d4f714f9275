// The field names a message's Connection fields list (RFC 9110 7.6.1): those
// fields are hop by hop, for this connection only, and never forwarded or
// stored. One rule for the forward path's field writers and the cache.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "http/exchange.h"

namespace gh::http {

// Up to 16 names; more are ignored (their fields then pass, which is
// harmless: the proxy re-frames every message and knows the real hop-by-hop
// fields by name).
struct ConnectionTokens {
  std::array<std::string_view, 16> names;
  size_t n = 0;

  void add_list(std::string_view v) {
    while (!v.empty() && n < names.size()) {
      size_t c = v.find(',');
      std::string_view t = v.substr(0, c);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
      if (!t.empty()) names[n++] = t;
      if (c == std::string_view::npos) break;
      v.remove_prefix(c + 1);
    }
  }
  bool has(std::string_view name) const {
    for (size_t i = 0; i < n; ++i)
      if (iequals(names[i], name)) return true;
    return false;
  }
  // The names every Connection field of `fields` lists.
  static ConnectionTokens of(std::span<const Field> fields) {
    ConnectionTokens t;
    for (const auto& h : fields)
      if (h.name.size() == 10 && iequals(h.name, "connection")) t.add_list(h.value);
    return t;
  }
};

}  // namespace gh::http
