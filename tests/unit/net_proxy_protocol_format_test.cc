// PROXY headers out, against bytes written by hand from proxy-protocol.txt.
#include <gtest/gtest.h>

#include <string>

#include "net/proxy_protocol.h"

using namespace gh::net;
namespace pp = gh::net::proxy_protocol;

static tcp::endpoint ep(const char* ip, uint16_t port) {
  return tcp::endpoint(asio::ip::make_address(ip), port);
}

TEST(ProxyProtocolFormat, V1Ipv4) {
  EXPECT_EQ(pp::format_v1(ep("192.168.0.1", 56324), ep("192.168.0.11", 443)),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST(ProxyProtocolFormat, V1Ipv6) {
  EXPECT_EQ(pp::format_v1(ep("2001:db8::1", 1), ep("::1", 65535)),
            "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
}

TEST(ProxyProtocolFormat, V1MappedIsIpv4AndMixedIsIpv6) {
  EXPECT_EQ(pp::format_v1(ep("::ffff:10.0.0.1", 1000), ep("::ffff:10.0.0.2", 80)),
            "PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\n");
  EXPECT_EQ(pp::format_v1(ep("10.0.0.1", 1000), ep("2001:db8::2", 80)),
            "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1000 80\r\n");
}

TEST(ProxyProtocolFormat, V1LongestFitsTheLimit) {
  std::string h = pp::format_v1(ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
                                ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535));
  EXPECT_LE(h.size(), 107u);
}

TEST(ProxyProtocolFormat, V2Ipv4) {
  const std::string want(
      "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"   // signature
      "\x21"                                               // v2, PROXY
      "\x11"                                               // TCP over IPv4
      "\x00\x0C"                                           // 12 bytes follow
      "\xC0\xA8\x00\x01"                                   // 192.168.0.1
      "\xC0\xA8\x00\x0B"                                   // 192.168.0.11
      "\xDC\x04"                                           // 56324
      "\x01\xBB",                                          // 443
      28);
  EXPECT_EQ(pp::format_v2(ep("192.168.0.1", 56324), ep("192.168.0.11", 443)), want);
}

TEST(ProxyProtocolFormat, V2Ipv6) {
  std::string want(
      "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"
      "\x21"
      "\x21"                                               // TCP over IPv6
      "\x00\x24",                                          // 36 bytes follow
      16);
  want += std::string("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
  want += std::string("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x02", 16);
  want += std::string("\x30\x39\x00\x50", 4);           // 12345, 80
  // Mixed families: the IPv4 destination goes as IPv4-mapped IPv6.
  EXPECT_EQ(pp::format_v2(ep("2001:db8::1", 12345), ep("10.0.0.2", 80)), want);
  EXPECT_EQ(pp::format_v2(ep("2001:db8::1", 12345), ep("::ffff:10.0.0.2", 80)), want);
}

TEST(ProxyProtocolFormat, V2MappedBothIsIpv4) {
  std::string h = pp::format_v2(ep("::ffff:1.2.3.4", 1), ep("::ffff:5.6.7.8", 2));
  ASSERT_EQ(h.size(), 28u);
  EXPECT_EQ(h[13], '\x11');
  EXPECT_EQ(h.substr(16, 8), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}
