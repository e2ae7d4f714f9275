// ASCII character rules for protocol text: digits and case folding that
// never consult the locale (std::isdigit/std::tolower do, and are slower).
// Field names, tokens, schemes and hosts compare without case in ASCII only
// (RFC 9110 5.1, RFC 3986 6.2.2.1); DIGIT is RFC 5234 B.1.
#pragma once

#include <string>
#include <string_view>

namespace gh::core {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` with ASCII letters lowercased, as a new string.
inline std::string ascii_lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace gh::core
