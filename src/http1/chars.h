// Character classes of RFC 9110/9112 as lookup tables, and the fast scanners
// built on them. Internal to the http1 layer.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gh::http1::detail {

enum : uint8_t {
  kToken = 1 << 0,   // tchar (RFC 9110 5.6.2)
  kValue = 1 << 1,   // field-vchar / SP / HTAB / obs-text: allowed inside a field value
  kTarget = 1 << 2,  // allowed in a request-target: VCHAR except '#' (no CTL, SP, obs-text)
  kHost = 1 << 3,    // reg-name: unreserved / sub-delims / '%' (RFC 3986 3.2.2)
  kHex = 1 << 4,     // HEXDIG
  kDigit = 1 << 5,   // DIGIT
  kQdtext = 1 << 6,  // qdtext of a quoted-string (RFC 9110 5.6.4)
};

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    const bool obs = c >= 0x80;
    if (alpha || digit || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos)
      f |= kToken;
    if (vchar || obs || c == ' ' || c == '\t') f |= kValue;
    if (vchar && c != '#') f |= kTarget;
    if (alpha || digit || std::string_view("-._~!$&'()*+,;=%").find(char(c)) != std::string_view::npos)
      f |= kHost;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHex;
    if (digit) f |= kDigit;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
        obs)
      f |= kQdtext;
    t[size_t(c)] = f;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kClass = make_char_classes();

constexpr std::array<unsigned char, 256> make_lower() {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) t[size_t(c)] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
  return t;
}
inline constexpr std::array<unsigned char, 256> kLower = make_lower();

inline bool has(char c, uint8_t cls) { return kClass[static_cast<unsigned char>(c)] & cls; }
inline unsigned char lower(char c) { return kLower[static_cast<unsigned char>(c)]; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Returns the first position in [p, e) that is not a tchar (e if none).
// Plain table loop: names are short, and a 16-byte SIMD version measured slower.
inline const char* scan_token(const char* p, const char* e) {
  while (p < e && has(*p, kToken)) ++p;
  return p;
}

// Returns the first position in [p, e) that may not appear in a field value:
// any CTL other than HTAB (so CR, LF and NUL stop it) or DEL. e if none.
// Values are the bulk of a head, so 16 bytes are checked at a time.
inline const char* scan_value(const char* p, const char* e) {
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i k7f = _mm_set1_epi8(0x7f);
  while (e - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, k1f), x);  // x <= 0x1f
    const __m128i bad = _mm_or_si128(ctl, _mm_cmpeq_epi8(x, k7f));
    const unsigned m = unsigned(_mm_movemask_epi8(bad));
    if (m == 0) {
      p += 16;
      continue;
    }
    p += __builtin_ctz(m);
    if (*p != '\t') return p;
    ++p;  // HTAB is allowed; rare enough to restart the block after it
  }
#endif
  while (p < e && has(*p, kValue)) ++p;
  return p;
}

// Returns the first position in [p, e) that may not appear in a
// request-target: CTL, SP, DEL, '#' or a byte >= 0x80. e if none.
inline const char* scan_target(const char* p, const char* e) {
#if defined(__SSE2__)
  const __m128i k21 = _mm_set1_epi8(0x21);
  const __m128i k7f = _mm_set1_epi8(0x7f);
  const __m128i khash = _mm_set1_epi8('#');
  while (e - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes >= 0x80 are negative, so one test catches CTL, SP and obs-text.
    __m128i bad = _mm_cmplt_epi8(x, k21);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, k7f));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, khash));
    const unsigned m = unsigned(_mm_movemask_epi8(bad));
    if (m != 0) return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (p < e && has(*p, kTarget)) ++p;
  return p;
}

inline int hex_value(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u >= '0' && u <= '9') return u - '0';
  const unsigned char l = u | 0x20;
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

}  // namespace gh::http1::detail
