#include "core/cidr.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>

using gh::core::Cidr;
using gh::core::format_ip;
using gh::core::Ip16;
using gh::core::is_v4_mapped;
using gh::core::parse_ip;

namespace {

// Parses or fails the test; for building expectations.
Ip16 ip(std::string_view s) {
  auto r = parse_ip(s);
  EXPECT_TRUE(r.has_value()) << s;
  return r.value_or(Ip16{});
}

struct IpCase {
  std::string_view text;
  const char* formatted;  // nullptr: must be refused
};

TEST(ParseIp, Table) {
  const IpCase cases[] = {
      {"1.2.3.4", "1.2.3.4"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"10.0.0.1", "10.0.0.1"},
      {"::1", "::1"},
      {"::", "::"},
      {"1::", "1::"},
      {"2001:db8::1", "2001:db8::1"},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // single zero group not compressed
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},            // longest run wins
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},      // first of equal runs
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"::ffff:1.2.3.4", "1.2.3.4"},                      // mapped prints as IPv4
      {"::ffff:0102:0304", "1.2.3.4"},
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
      {"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
      {"fe80::", "fe80::"},
      // refused
      {"", nullptr},
      {"1.2.3", nullptr},
      {"1.2.3.4.5", nullptr},
      {"256.0.0.1", nullptr},
      {"1.2.3.-1", nullptr},
      {"010.0.0.1", nullptr},   // leading zero: octal to some parsers
      {"1.2.3.04", nullptr},
      {"00.0.0.0", nullptr},
      {"1000.0.0.1", nullptr},
      {"0001.0.0.1", nullptr},
      {"1.2.3.4 ", nullptr},
      {" 1.2.3.4", nullptr},
      {"1..2.3", nullptr},
      {"1.2.3.", nullptr},
      {".1.2.3", nullptr},
      {"0x1.2.3.4", nullptr},
      {"1.2.3.4/8", nullptr},
      {"localhost", nullptr},
      {"[::1]", nullptr},
      {":::", nullptr},
      {":1", nullptr},
      {"1:", nullptr},
      {"1:::2", nullptr},
      {"1::2::3", nullptr},
      {"12345::", nullptr},
      {"g::", nullptr},
      {"1:2:3:4:5:6:7:8:9", nullptr},
      {"1:2:3:4:5:6:7", nullptr},
      {"1:2:3:4::5:6:7:8", nullptr},  // "::" must stand for at least one group
      {"1:2:3:4:5:6:7:1.2.3.4", nullptr},
      {"::1.2.3.4:1", nullptr},       // dotted quad only at the end
      {"::ffff:1.2.3", nullptr},
      {"::ffff:01.2.3.4", nullptr},
      {"fe80::1%eth0", nullptr},      // zone ids are not addresses
      {"::1:", nullptr},
      {std::string_view("::1\0", 4), nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    auto r = parse_ip(c.text);
    if (c.formatted == nullptr) {
      EXPECT_FALSE(r.has_value());
    } else {
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(format_ip(*r), c.formatted);
      // What we print reads back to the same bytes.
      EXPECT_EQ(parse_ip(format_ip(*r)), r);
    }
  }
}

// Every octet value in every position prints as snprintf's "%u" would.
TEST(FormatIp, V4EveryOctet) {
  for (int pos = 12; pos < 16; ++pos) {
    for (unsigned v = 0; v < 256; ++v) {
      Ip16 a{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 20, 203, 4};
      a[pos] = static_cast<uint8_t>(v);
      char want[32];
      std::snprintf(want, sizeof want, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
      EXPECT_EQ(format_ip(a), want);
    }
  }
}

TEST(ParseIp, V4IsStoredMapped) {
  Ip16 want{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(ip("10.1.2.3"), want);
  EXPECT_TRUE(is_v4_mapped(want));
  EXPECT_FALSE(is_v4_mapped(ip("::1")));
  EXPECT_FALSE(is_v4_mapped(ip("::1.2.3.4")));  // IPv4-compatible, not mapped
}

struct CidrCase {
  std::string_view text;
  bool ok;
  const char* addr;  // expected network address after masking
  unsigned prefix;   // in IPv6 bits
};

TEST(CidrParse, Table) {
  const CidrCase cases[] = {
      {"10.0.0.0/8", true, "10.0.0.0", 104},
      {"10.1.2.3/8", true, "10.0.0.0", 104},  // host bits masked, like nginx
      {"192.168.1.7/24", true, "192.168.1.0", 120},
      {"192.168.1.7/31", true, "192.168.1.6", 127},
      {"1.2.3.4", true, "1.2.3.4", 128},
      {"1.2.3.4/32", true, "1.2.3.4", 128},
      {"0.0.0.0/0", true, "0.0.0.0", 96},
      {"::1", true, "::1", 128},
      {"::1/128", true, "::1", 128},
      {"2001:db8::ff/32", true, "2001:db8::", 32},
      {"fe80::1/10", true, "fe80::", 10},
      {"::/0", true, "::", 0},
      {"::ffff:10.0.0.0/104", true, "10.0.0.0", 104},
      // refused
      {"", false, nullptr, 0},
      {"/8", false, nullptr, 0},
      {"10.0.0.0/", false, nullptr, 0},
      {"10.0.0.0/33", false, nullptr, 0},
      {"10.0.0.0/-1", false, nullptr, 0},
      {"10.0.0.0/08", false, nullptr, 0},
      {"10.0.0.0/8/8", false, nullptr, 0},
      {"10.0.0.0/ 8", false, nullptr, 0},
      {"10.0.0.0 /8", false, nullptr, 0},
      {"10.0.0.0/8 ", false, nullptr, 0},
      {"10.0.0.0/1000", false, nullptr, 0},
      {"10.0.0/8", false, nullptr, 0},
      {"010.0.0.0/8", false, nullptr, 0},
      {"::1/129", false, nullptr, 0},
      {"::1/0128", false, nullptr, 0},
      {"[::1]/64", false, nullptr, 0},
      {"example.com/8", false, nullptr, 0},
      {"10.0.0.0/8x", false, nullptr, 0},
      {"10.0.0.0/0x8", false, nullptr, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    auto r = Cidr::parse(c.text);
    ASSERT_EQ(r.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(format_ip(r->addr), c.addr);
    EXPECT_EQ(r->prefix, c.prefix);
  }
}

TEST(CidrContains, V4) {
  auto c = Cidr::parse("10.0.0.0/8").value();
  EXPECT_TRUE(c.contains(ip("10.0.0.0")));
  EXPECT_TRUE(c.contains(ip("10.255.255.255")));
  EXPECT_FALSE(c.contains(ip("11.0.0.0")));
  EXPECT_FALSE(c.contains(ip("9.255.255.255")));
  // An IPv6 address whose low bits look like 10.x is not inside a v4 block.
  EXPECT_FALSE(c.contains(ip("::10.0.0.1")));
  EXPECT_FALSE(c.contains(ip("2001:db8::a00:1")));

  auto odd = Cidr::parse("192.168.1.64/27").value();
  EXPECT_TRUE(odd.contains(ip("192.168.1.64")));
  EXPECT_TRUE(odd.contains(ip("192.168.1.95")));
  EXPECT_FALSE(odd.contains(ip("192.168.1.96")));
  EXPECT_FALSE(odd.contains(ip("192.168.1.63")));

  auto host = Cidr::parse("127.0.0.1").value();
  EXPECT_TRUE(host.contains(ip("127.0.0.1")));
  EXPECT_FALSE(host.contains(ip("127.0.0.2")));

  auto all4 = Cidr::parse("0.0.0.0/0").value();
  EXPECT_TRUE(all4.contains(ip("203.0.113.9")));
  EXPECT_FALSE(all4.contains(ip("::1")));
}

TEST(CidrContains, V6) {
  auto c = Cidr::parse("2001:db8::/32").value();
  EXPECT_TRUE(c.contains(ip("2001:db8::1")));
  EXPECT_TRUE(c.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.contains(ip("2001:db9::")));
  EXPECT_FALSE(c.contains(ip("10.0.0.1")));

  auto all = Cidr::parse("::/0").value();
  EXPECT_TRUE(all.contains(ip("::1")));
  EXPECT_TRUE(all.contains(ip("10.0.0.1")));  // mapped addresses are IPv6 too

  auto ten = Cidr::parse("fe80::/10").value();
  EXPECT_TRUE(ten.contains(ip("febf::1")));
  EXPECT_FALSE(ten.contains(ip("fec0::1")));
}

}  // namespace
