// Writing PROXY headers (HAProxy's proxy-protocol.txt, sections 2.1 and 2.2)
// for `streams.proxy_protocol`. Reading them is proxy_protocol_parse.cc.
#include <cstdint>
#include <string>

#include "net/proxy_protocol.h"

namespace gh::net::proxy_protocol {

namespace {

// The addresses as the header writes them: IPv4-mapped IPv6 as IPv4, and
// both as IPv6 when their families still differ (a header has one family).
struct Pair {
  asio::ip::address src, dst;
  bool v6 = false;
};

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

asio::ip::address as_v6(const asio::ip::address& a) {
  if (a.is_v6()) return a;
  return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4());
}

Pair normalize(const tcp::endpoint& source, const tcp::endpoint& destination) {
  Pair p{unmapped(source.address()), unmapped(destination.address())};
  p.v6 = p.src.is_v6() || p.dst.is_v6();
  if (p.v6) {
    p.src = as_v6(p.src);
    p.dst = as_v6(p.dst);
  }
  return p;
}

}  // namespace

std::string format_v1(const tcp::endpoint& source, const tcp::endpoint& destination) {
  Pair p = normalize(source, destination);
  std::string out = p.v6 ? "PROXY TCP6 " : "PROXY TCP4 ";
  out += p.src.to_string();
  out += ' ';
  out += p.dst.to_string();
  out += ' ';
  out += std::to_string(source.port());
  out += ' ';
  out += std::to_string(destination.port());
  out += "\r\n";
  return out;
}

std::string format_v2(const tcp::endpoint& source, const tcp::endpoint& destination) {
  static constexpr char kSignature[12] = {'\x0D', '\x0A', '\x0D', '\x0A', '\x00', '\x0D',
                                          '\x0A', '\x51', '\x55', '\x49', '\x54', '\x0A'};
  Pair p = normalize(source, destination);
  std::string out(kSignature, sizeof kSignature);
  out += char(0x21);                  // version 2, PROXY command
  out += char(p.v6 ? 0x21 : 0x11);    // AF_INET6 or AF_INET, over STREAM (TCP)
  const uint16_t len = p.v6 ? 36 : 12;
  out += char(len >> 8);
  out += char(len & 0xff);
  auto put_addr = [&](const asio::ip::address& a) {
    if (p.v6) {
      auto b = a.to_v6().to_bytes();
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
    } else {
      auto b = a.to_v4().to_bytes();
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
    }
  };
  put_addr(p.src);
  put_addr(p.dst);
  auto put_port = [&](uint16_t port) {
    out += char(port >> 8);
    out += char(port & 0xff);
  };
  put_port(source.port());
  put_port(destination.port());
  return out;
}

}  // namespace gh::net::proxy_protocol
