#include "config/route_path.h"

#include <algorithm>

#include "http/path.h"

namespace gh::config {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 pchar minus '%', plus '/'.
bool is_path_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                      // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')':  // sub-delims
    case '*': case '+': case ',': case ';': case '=':
    case ':': case '@': case '/':
      return true;
    default:
      return false;
  }
}

// Checks every byte of a path or query; `query_ok` also allows '?'.
bool check_chars(std::string_view s, bool query_ok, std::string& why) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      why = "spaces, control characters and non-ASCII bytes are not allowed (use %XX escapes)";
      return false;
    }
    if (c == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
        why = "'%' must start a %XX escape";
        return false;
      }
      i += 2;
      continue;
    }
    if (c == '#') {
      why = "'#' is not allowed";
      return false;
    }
    if (c == '?') {
      if (query_ok) continue;
      why = "'?' is not allowed (a route matches the path only, not the query)";
      return false;
    }
    if (!is_path_char(c)) {
      why = std::string("character '") + c + "' is not allowed in a path";
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> normalize_route_path(std::string_view text, std::string& why) {
  if (text.empty() || text.front() != '/') {
    why = "must start with '/'";
    return std::nullopt;
  }
  if (!check_chars(text, false, why)) return std::nullopt;
  std::string_view p = text;
  // One trailing '/' goes; "//" at the end stays to be refused below.
  if (p.size() > 1 && p.back() == '/' && p[p.size() - 2] != '/') p.remove_suffix(1);
  // Segments after the leading '/'; "/" alone has none to check.
  if (p.size() > 1) {
    size_t start = 1;
    while (true) {
      size_t slash = p.find('/', start);
      std::string_view seg = p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
      if (seg.empty()) {
        why = "empty path segments ('//') are not allowed";
        return std::nullopt;
      }
      if (seg == "." || seg == "..") {
        why = "'.' and '..' segments are not allowed";
        return std::nullopt;
      }
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  }
  // Requests are routed on their normalized path, so the prefix is kept in
  // that form too ("/%7euser" -> "/~user", "%2f" -> "%2F"). An encoded dot
  // segment ("/%2e%2E") would vanish there: refused like a plain one.
  std::string out;
  out.reserve(p.size());
  std::string_view in = p;
  http::PathStatus st = http::normalize_path(in, out);
  if (st == http::PathStatus::bad_byte) {
    why = "%00 and %5C are not allowed";
    return std::nullopt;
  }
  if (st != http::PathStatus::ok ||
      std::count(out.begin(), out.end(), '/') != std::count(in.begin(), in.end(), '/') ||
      (in.size() > 1 && out.back() == '/')) {
    why = "'.' and '..' segments are not allowed, also not encoded as %2E";
    return std::nullopt;
  }
  return out;
}

bool valid_check_path(std::string_view text, std::string& why) {
  if (text.empty() || text.front() != '/') {
    why = "must start with '/'";
    return false;
  }
  return check_chars(text, true, why);
}

}  // namespace gh::config
