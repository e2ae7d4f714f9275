// IPv4/IPv6 addresses and CIDR blocks as plain bytes, so that src/core and
// src/config stay free of Asio. IPv4 is stored as IPv4-mapped IPv6.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::core {

using Ip16 = std::array<uint8_t, 16>;

// Parses "1.2.3.4" or "::1" (no brackets, no port). Refuses anything else.
std::optional<Ip16> parse_ip(std::string_view text);
bool is_v4_mapped(const Ip16& ip);
// "1.2.3.4" for mapped IPv4, RFC 5952 form for IPv6.
std::string format_ip(const Ip16& ip);

struct Cidr {
  Ip16 addr{};
  unsigned prefix = 128;  // in IPv6 bits (IPv4 /24 is stored as 96+24)

  // Accepts "10.0.0.0/8", "::1/128", or a bare address (full-length prefix).
  // Host bits set beyond the prefix are cleared, like nginx ("10.1.2.3/8" is
  // 10.0.0.0/8). Refuses out-of-range prefixes, leading zeros, junk.
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const Ip16& ip) const;
};

}  // namespace gh::core
