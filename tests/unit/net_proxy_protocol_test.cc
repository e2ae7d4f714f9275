#include <gtest/gtest.h>

#include <string>

#include "net/proxy_protocol.h"

namespace gh::net::proxy_protocol {
namespace {

using namespace std::string_literals;

const std::string kSig = "\r\n\r\n\0\r\nQUIT\n"s;

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body, int len = -1) {
  const size_t n = len < 0 ? body.size() : size_t(len);
  std::string h = kSig;
  h += char(ver_cmd);
  h += char(fam);
  h += char(n >> 8);
  h += char(n & 0xff);
  return h + body;
}

// 192.0.2.1:56324 -> 198.51.100.2:443
const std::string kV4Body = "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb"s;
// [2001:db8::1]:56324 -> [2001:db8::2]:443
const std::string kV6Body =
    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02\xdc\x04\x01\xbb"s;

tcp::endpoint ep(const char* a, uint16_t p) { return tcp::endpoint(asio::ip::make_address(a), p); }

void expect_need_more_prefixes(const std::string& h) {
  for (size_t n = 0; n < h.size(); ++n)
    EXPECT_EQ(parse(h.substr(0, n)).status, Status::need_more) << "prefix of " << n << " bytes";
}

TEST(ProxyProtocolV1, Tcp4) {
  const std::string h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  auto r = parse(h + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, h.size());
  EXPECT_FALSE(r.addresses.local);
  EXPECT_EQ(r.addresses.source, ep("192.0.2.1", 56324));
  EXPECT_EQ(r.addresses.destination, ep("198.51.100.2", 443));
  expect_need_more_prefixes(h);
}

TEST(ProxyProtocolV1, Tcp6) {
  const std::string h = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
  auto r = parse(h);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, h.size());
  EXPECT_EQ(r.addresses.source, ep("2001:db8::1", 0));
  EXPECT_EQ(r.addresses.destination, ep("2001:db8::2", 65535));
  expect_need_more_prefixes(h);
}

TEST(ProxyProtocolV1, UnknownIsLocalAndIgnoresTheRestOfTheLine) {
  auto r = parse("PROXY UNKNOWN\r\nX");
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, 15u);
  EXPECT_TRUE(r.addresses.local);
  r = parse("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_TRUE(r.addresses.local);
}

TEST(ProxyProtocolV1, LongestHeaderIs107Bytes) {
  // The spec's worst case: TCP6 with two full-length addresses.
  const std::string a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string h = "PROXY TCP6 " + a + " " + a + " 65535 65535\r\n";
  ASSERT_EQ(h.size(), 104u);
  EXPECT_EQ(parse(h).status, Status::complete);
  const std::string u = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(u.size(), 107u);
  EXPECT_EQ(parse(u).status, Status::complete);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(92, 'x') + "\r\n").status, Status::invalid);
  // No CRLF in 107 bytes: invalid without waiting for more.
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(93, 'x')).status, Status::invalid);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(92, 'x')).status, Status::need_more);
}

TEST(ProxyProtocolV1, Malformed) {
  const char* bad[] = {
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",            // too few fields
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 7\r\n",      // too many
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",       // trailing space
      "PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n",       // double space
      "PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n",      // port out of range
      "PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",       // leading zero
      "PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 1a 443\r\n",
      "PROXY TCP4 192.0.2.256 198.51.100.2 1 443\r\n",          // bad octet
      "PROXY TCP4 192.0.2 198.51.100.2 1 443\r\n",
      "PROXY TCP4 192.0.02.1 198.51.100.2 1 443\r\n",           // leading zero (octal?)
      "PROXY TCP4 2001:db8::1 198.51.100.2 1 443\r\n",          // family mismatch
      "PROXY TCP6 192.0.2.1 2001:db8::2 1 443\r\n",
      "PROXY TCP6 fe80::1%eth0 2001:db8::2 1 443\r\n",          // zone
      "PROXY TCP6 2001:db8:::1 2001:db8::2 1 443\r\n",
      "PROXY TCP5 192.0.2.1 198.51.100.2 1 443\r\n",            // unknown protocol
      "PROXY tcp4 192.0.2.1 198.51.100.2 1 443\r\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n",              // LF alone (no CRLF yet... then junk)
      "PROXY TCP4 192.0.2.1\t198.51.100.2 1 443\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 1 443\r\r\n",
      "PROXY\r\n",
      "PROXY \r\n",
      "proxy TCP4 192.0.2.1 198.51.100.2 1 443\r\n",
      "GET / HTTP/1.1\r\n",
      "\x16\x03\x01\x02\x00",                                     // a TLS ClientHello
  };
  for (const char* b : bad) {
    auto r = parse(b);
    EXPECT_EQ(r.status, Status::invalid) << b;
    EXPECT_FALSE(r.error.empty()) << b;
  }
}

TEST(ProxyProtocolV1, GarbageIsRefusedEarly) {
  EXPECT_EQ(parse("G").status, Status::invalid);
  EXPECT_EQ(parse("PROXX").status, Status::invalid);
  EXPECT_EQ(parse("PROXY X").status, Status::invalid);
  EXPECT_EQ(parse("PROXY TCP4 1\x01").status, Status::invalid);
  EXPECT_EQ(parse("PROXY TCP4 1\r2").status, Status::invalid);
  EXPECT_EQ(parse("PROXY TCP4 1\n").status, Status::invalid);
  EXPECT_EQ(parse("").status, Status::need_more);
  EXPECT_EQ(parse("PROX").status, Status::need_more);
  EXPECT_EQ(parse("PROXY UNKN").status, Status::need_more);
  EXPECT_EQ(parse("PROXY TCP4 1.2\r").status, Status::need_more);
}

TEST(ProxyProtocolV2, Tcp4) {
  const std::string h = v2(0x21, 0x11, kV4Body);
  auto r = parse(h + "rest");
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, 28u);
  EXPECT_FALSE(r.addresses.local);
  EXPECT_EQ(r.addresses.source, ep("192.0.2.1", 56324));
  EXPECT_EQ(r.addresses.destination, ep("198.51.100.2", 443));
  expect_need_more_prefixes(h);
}

TEST(ProxyProtocolV2, Tcp6) {
  const std::string h = v2(0x21, 0x21, kV6Body);
  auto r = parse(h);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, 52u);
  EXPECT_EQ(r.addresses.source, ep("2001:db8::1", 56324));
  EXPECT_EQ(r.addresses.destination, ep("2001:db8::2", 443));
  expect_need_more_prefixes(h);
}

TEST(ProxyProtocolV2, TlvsAreSkipped) {
  // PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", a NOOP.
  const std::string tlvs = "\x01\x00\x02h2\x02\x00\x0b" "example.com\x04\x00\x00"s;
  const std::string h = v2(0x21, 0x11, kV4Body + tlvs);
  auto r = parse(h + "GET");
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, h.size());
  EXPECT_EQ(r.addresses.source, ep("192.0.2.1", 56324));
}

TEST(ProxyProtocolV2, LocalKeepsTheConnectionsAddresses) {
  auto r = parse(v2(0x20, 0x00, ""));
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, 16u);
  EXPECT_TRUE(r.addresses.local);
  // LOCAL ignores the family and the address block, whatever they hold.
  r = parse(v2(0x20, 0x11, "\x01\x02"));
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_TRUE(r.addresses.local);
  EXPECT_EQ(r.length, 18u);
}

TEST(ProxyProtocolV2, FamiliesWeDoNotCarryFallBackToLocal) {
  for (uint8_t fam : {0x00, 0x12, 0x22, 0x31, 0x32}) {
    auto r = parse(v2(0x21, fam, std::string(fam >= 0x31 ? 216 : fam == 0x22 ? 36 : fam == 0x12 ? 12 : 0, 'a')));
    ASSERT_EQ(r.status, Status::complete) << int(fam) << r.error;
    EXPECT_TRUE(r.addresses.local) << int(fam);
  }
}

TEST(ProxyProtocolV2, Malformed) {
  std::string bad_sig = v2(0x21, 0x11, kV4Body);
  bad_sig[11] = 'X';
  EXPECT_EQ(parse(bad_sig).status, Status::invalid);
  EXPECT_EQ(parse("\r\n\r\n\x01"s).status, Status::invalid) << "refused at the first wrong byte";
  EXPECT_EQ(parse("\r\nGET").status, Status::invalid);
  EXPECT_EQ(parse(v2(0x11, 0x11, kV4Body)).status, Status::invalid) << "version 1 in v2 form";
  EXPECT_EQ(parse(v2(0x31, 0x11, kV4Body)).status, Status::invalid) << "version 3";
  EXPECT_EQ(parse(v2(0x22, 0x11, kV4Body)).status, Status::invalid) << "command 2";
  EXPECT_EQ(parse(v2(0x2f, 0x11, kV4Body)).status, Status::invalid);
  EXPECT_EQ(parse(v2(0x21, 0x13, kV4Body)).status, Status::invalid) << "unknown protocol";
  EXPECT_EQ(parse(v2(0x21, 0x41, kV4Body)).status, Status::invalid) << "unknown family";
  EXPECT_EQ(parse(v2(0x21, 0x10, kV4Body)).status, Status::invalid);
  EXPECT_EQ(parse(v2(0x21, 0x11, kV4Body.substr(0, 11))).status, Status::invalid) << "short IPv4 block";
  EXPECT_EQ(parse(v2(0x21, 0x21, kV6Body.substr(0, 35))).status, Status::invalid) << "short IPv6 block";
  EXPECT_EQ(parse(v2(0x21, 0x21, kV4Body)).status, Status::invalid);
}

TEST(ProxyProtocolV2, LengthIsBoundedBeforeTheBytesArrive) {
  // Refused from the 16 fixed bytes alone: we never wait for (or buffer) more.
  const std::string head = v2(0x21, 0x11, "", int(kMaxHeader - 16 + 1));
  auto r = parse(head);
  EXPECT_EQ(r.status, Status::invalid);
  EXPECT_NE(r.error.find("longer"), std::string::npos) << r.error;
  EXPECT_EQ(parse(v2(0x21, 0x11, "", 0xffff)).status, Status::invalid);
  // Exactly at the bound is fine.
  const std::string max = v2(0x21, 0x11, kV4Body + std::string(kMaxHeader - 16 - 12, '\x04'));
  ASSERT_EQ(max.size(), kMaxHeader);
  r = parse(max);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.length, kMaxHeader);
  EXPECT_EQ(parse(max.substr(0, kMaxHeader - 1)).status, Status::need_more);
}

}  // namespace
}  // namespace gh::net::proxy_protocol
