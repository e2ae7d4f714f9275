// RFC 9110 5.6.2: the characters a token may hold (field names, methods,
// content codings, parameter names). One definition for every parser and
// writer that checks tokens.
#pragma once

namespace gh::http {

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

}  // namespace gh::http
