#include "cache/range.h"
#include "http/token.h"

#include <optional>

#include "http/exchange.h"

namespace gh::cache {

namespace {

using http::trim_ows;

// 1*DIGIT, refusing overflow past 2^63.
std::optional<uint64_t> digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

bool starts_with_nocase(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && http::iequals(s.substr(0, p.size()), p);
}

}  // namespace

ByteRange parse_range(std::string_view value, uint64_t size) {
  ByteRange r;
  value = trim_ows(value);
  if (!starts_with_nocase(value, "bytes=")) return r;   // (range units are case-insensitive, 14.1)
  std::string_view spec = trim_ows(value.substr(6));
  if (spec.empty() || spec.find(',') != std::string_view::npos) return r;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  if (a.empty()) {
    std::optional<uint64_t> n = digits(b);   // suffix-range
    if (!n) return r;
    if (*n == 0 || size == 0) {
      r.kind = ByteRange::Kind::unsatisfiable;
      return r;
    }
    r.kind = ByteRange::Kind::satisfiable;
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  std::optional<uint64_t> first = digits(a);
  if (!first) return r;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = digits(b);
    if (!last || *last < *first) return r;   // invalid: ignored (14.1.1)
  }
  if (*first >= size) {
    r.kind = ByteRange::Kind::unsatisfiable;
    return r;
  }
  r.kind = ByteRange::Kind::satisfiable;
  r.first = *first;
  r.last = last && *last < size ? *last : size - 1;
  return r;
}

bool if_range_holds(std::span<const http::Field> request_fields,
                    std::span<const http::Field> stored_fields) {
  bool present = false;
  std::string_view v = trim_ows(http::find_field(request_fields, "if-range", &present));
  if (!present) return true;
  if (v.empty()) return false;
  if (v.front() == '"') {
    // Strong comparison: the stored ETag must be strong and the same bytes.
    std::string_view stored = trim_ows(http::find_field(stored_fields, "etag"));
    return v.size() >= 2 && v.back() == '"' && stored == v;
  }
  if (v.starts_with("W/")) return false;   // a weak tag never validates a range
  bool has_lm = false;
  std::string_view lm = trim_ows(http::find_field(stored_fields, "last-modified", &has_lm));
  return has_lm && lm == v;
}

}  // namespace gh::cache
