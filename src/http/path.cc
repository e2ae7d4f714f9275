#include "http/path.h"

namespace gh::http {
namespace {

constexpr auto hex_value = hex_digit_value;

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

PathStatus normalize_path(std::string_view target, std::string& out) {
  if (target.empty() || target.front() != '/') return PathStatus::not_absolute;
  const size_t base = out.size();
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  auto fail = [&](PathStatus s) {
    out.resize(base);
    return s;
  };
  static constexpr char kHex[] = "0123456789ABCDEF";

  // Between segments, what was written ends with '/'.
  out.push_back('/');
  size_t i = 1;
  for (;;) {
    size_t end = path.find('/', i);
    const bool last = end == std::string_view::npos;
    if (last) end = path.size();
    const std::string_view raw = path.substr(i, end - i);
    if (raw.empty()) {
      // "//" merges; a final empty segment is the trailing '/' already written.
      if (last) break;
      i = end + 1;
      continue;
    }
    const size_t start = out.size();
    size_t params = std::string_view::npos;  // offset of the first raw ';' in the segment
    for (size_t k = 0; k < raw.size(); ++k) {
      const auto c = static_cast<unsigned char>(raw[k]);
      if (c == '%') {
        const int hi = raw.size() - k >= 3 ? hex_value(raw[k + 1]) : -1;
        const int lo = hi >= 0 ? hex_value(raw[k + 2]) : -1;
        if (lo < 0) return fail(PathStatus::bad_escape);
        const auto v = static_cast<unsigned char>(hi * 16 + lo);
        if (v == 0 || v == '\\') return fail(PathStatus::bad_byte);
        if (unreserved(v)) {
          out.push_back(static_cast<char>(v));
        } else {
          out.push_back('%');
          out.push_back(kHex[hi]);
          out.push_back(kHex[lo]);
        }
        k += 2;
        continue;
      }
      if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') return fail(PathStatus::bad_byte);
      if (c == ';' && params == std::string_view::npos) params = out.size() - start;
      out.push_back(static_cast<char>(c));
    }
    // An encoded ';' stays "%3B", so a ';' written here came raw.
    const std::string_view name = std::string_view(out).substr(start).substr(0, params);
    if (name == ".") {
      out.resize(start);
    } else if (name == "..") {
      if (start == base + 1) return fail(PathStatus::above_root);
      // out is ".../prev/": keep up to the '/' before prev. Segments hold no
      // raw '/', and out[base] is '/', so the search stops at base at worst.
      out.resize(out.rfind('/', start - 2) + 1);
    } else if (!last) {
      out.push_back('/');
    }
    if (last) break;
    i = end + 1;
  }
  out.append(query);
  return PathStatus::ok;
}

const char* path_status_text(PathStatus s) {
  switch (s) {
    case PathStatus::ok: return "ok";
    case PathStatus::not_absolute: return "request path must start with '/'";
    case PathStatus::bad_escape: return "malformed %-escape in request path";
    case PathStatus::bad_byte:
      return "request path holds a control byte, space, '#', backslash, %00 or %5C";
    case PathStatus::above_root: return "request path climbs above the root with '..'";
  }
  return "invalid request path";
}

}  // namespace gh::http
