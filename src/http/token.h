// RFC 9110 5.6.2: the characters a token may hold (field names, methods,
// content codings, parameter names). One definition for every parser and
// writer that checks tokens.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/ascii.h"

namespace gh::http {

using core::ascii_lower;
using core::ascii_lowered;
using core::is_digit;

constexpr bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_tchar(char c) { return is_tchar(static_cast<unsigned char>(c)); }

// RFC 9110 5.6.3: optional whitespace is spaces and horizontal tabs.
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 5.6.3: `s` without the optional whitespace (spaces, tabs) around it.
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 5.6.1: where the list element at `i` of a field value ends: the
// index of the comma after it, or line.size(). Commas inside a
// quoted-string (5.6.4, with its backslash escapes) do not end an element.
constexpr size_t list_element_end(std::string_view line, size_t i) {
  bool quoted = false;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      return i;
    }
  }
  return line.size();
}

}  // namespace gh::http
