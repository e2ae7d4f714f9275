#include "core/cidr.h"

#include <cstdio>

#include "core/ascii.h"

namespace gh::core {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Dotted quad into out[0..3]. Each octet is 1-3 digits, at most 255, and has
// no leading zero: "010" means 8 to some parsers and 10 to others.
bool parse_v4(std::string_view s, uint8_t* out) {
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || v > 255) return false;
    if (len > 1 && s[start] == '0') return false;
    if (i < s.size() && is_digit(s[i])) return false;  // four or more digits
    out[part] = static_cast<uint8_t>(v);
  }
  return i == s.size();
}

// RFC 4291 text form: up to eight hex groups, one "::" for a run of zero
// groups, optionally ending in a dotted quad. No zone ids, no brackets.
bool parse_v6(std::string_view s, Ip16& out) {
  uint16_t head[8] = {};
  uint16_t tail[8] = {};
  int nhead = 0, ntail = 0;
  bool gap = false;  // saw "::"
  size_t i = 0;
  if (s.starts_with("::")) {
    gap = true;
    i = 2;
  } else if (s.starts_with(":")) {
    return false;
  }
  uint8_t v4[4];
  bool has_v4 = false;
  while (i < s.size()) {
    // A dotted quad may only be the last element.
    size_t end = s.find(':', i);
    std::string_view piece = s.substr(i, end == std::string_view::npos ? s.size() - i : end - i);
    if (piece.find('.') != std::string_view::npos) {
      if (end != std::string_view::npos || !parse_v4(piece, v4)) return false;
      has_v4 = true;
      i = s.size();
      break;
    }
    if (piece.empty() || piece.size() > 4) return false;
    unsigned v = 0;
    for (char c : piece) {
      int h = hex_value(c);
      if (h < 0) return false;
      v = v * 16 + static_cast<unsigned>(h);
    }
    int& n = gap ? ntail : nhead;
    if (nhead + ntail >= 8) return false;
    (gap ? tail : head)[n++] = static_cast<uint16_t>(v);
    i += piece.size();
    if (i == s.size()) break;
    ++i;  // the ':'
    if (i < s.size() && s[i] == ':') {
      if (gap) return false;  // a second "::"
      gap = true;
      ++i;
    } else if (i == s.size()) {
      return false;  // trailing single ':'
    }
  }
  int groups = nhead + ntail + (has_v4 ? 2 : 0);
  if (groups > 8) return false;
  if (!gap && groups != 8) return false;
  if (gap && groups == 8) return false;  // "::" must stand for at least one group
  out.fill(0);
  for (int g = 0; g < nhead; ++g) {
    out[2 * g] = static_cast<uint8_t>(head[g] >> 8);
    out[2 * g + 1] = static_cast<uint8_t>(head[g] & 0xff);
  }
  int tail_start = 8 - ntail - (has_v4 ? 2 : 0);
  for (int g = 0; g < ntail; ++g) {
    out[2 * (tail_start + g)] = static_cast<uint8_t>(tail[g] >> 8);
    out[2 * (tail_start + g) + 1] = static_cast<uint8_t>(tail[g] & 0xff);
  }
  if (has_v4) {
    for (int b = 0; b < 4; ++b) out[12 + b] = v4[b];
  }
  return true;
}

// Clears every bit after the first `prefix` bits.
void mask_to(Ip16& ip, unsigned prefix) {
  for (unsigned b = 0; b < 16; ++b) {
    unsigned keep = prefix > b * 8 ? prefix - b * 8 : 0;
    if (keep >= 8) continue;
    ip[b] &= static_cast<uint8_t>(0xff00u >> keep);
  }
}

}  // namespace

std::optional<Ip16> parse_ip(std::string_view text) {
  Ip16 ip{};
  if (text.find(':') == std::string_view::npos) {
    if (!parse_v4(text, ip.data() + 12)) return std::nullopt;
    ip[10] = 0xff;
    ip[11] = 0xff;
    return ip;
  }
  if (!parse_v6(text, ip)) return std::nullopt;
  return ip;
}

bool is_v4_mapped(const Ip16& ip) {
  for (int i = 0; i < 10; ++i) {
    if (ip[i] != 0) return false;
  }
  return ip[10] == 0xff && ip[11] == 0xff;
}

// Appends `v` (0-255) in decimal; returns the end.
static char* put_octet(char* p, unsigned v) {
  if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
  if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
  *p++ = static_cast<char>('0' + v % 10);
  return p;
}

std::string format_ip(const Ip16& ip) {
  char buf[64];
  if (is_v4_mapped(ip)) {
    // By hand, not snprintf: this runs once per accepted connection, and
    // snprintf cost ~1,800 instructions of a new connection's ~38,000.
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      if (i > 12) *p++ = '.';
      p = put_octet(p, ip[i]);
    }
    return std::string(buf, p);
  }
  unsigned g[8];
  for (int i = 0; i < 8; ++i) g[i] = (unsigned{ip[2 * i]} << 8) | ip[2 * i + 1];
  // RFC 5952: compress the longest run of two or more zero groups, the first
  // one when runs tie.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  std::optional<Ip16> ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  unsigned max = v4 ? 32 : 128;
  unsigned n = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    if (p.size() > 1 && p[0] == '0') return std::nullopt;
    n = 0;
    for (char c : p) {
      if (!is_digit(c)) return std::nullopt;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > max) return std::nullopt;
  }
  Cidr c;
  c.prefix = v4 ? 96 + n : n;
  c.addr = *ip;
  // Lenient like nginx: "10.1.2.3/8" means 10.0.0.0/8.
  mask_to(c.addr, c.prefix);
  return c;
}

bool Cidr::contains(const Ip16& ip) const {
  Ip16 masked = ip;
  mask_to(masked, prefix);
  return masked == addr;
}

}  // namespace gh::core
