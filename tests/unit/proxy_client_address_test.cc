// The client address as gatehouse determines it: the peer, or the nearest
// untrusted address a trusted proxy names in X-Forwarded-For or Forwarded.
#include <gtest/gtest.h>

#include "proxy/client_address.h"

using namespace gh;
using namespace gh::proxy;

namespace {

std::vector<core::Cidr> cidrs(std::initializer_list<const char*> l) {
  std::vector<core::Cidr> out;
  for (auto s : l) out.push_back(*core::Cidr::parse(s));
  return out;
}

ClientAddress who(const char* peer, std::vector<http::Field> fields, std::vector<core::Cidr> trusted) {
  return effective_client(*core::parse_ip(peer), peer, fields, trusted);
}

TEST(ClientAddress, PeerWhenNotTrusted) {
  EXPECT_EQ(who("10.0.0.9", {{"X-Forwarded-For", "1.2.3.4"}}, {}).str, "10.0.0.9");
  EXPECT_EQ(who("10.0.0.9", {{"X-Forwarded-For", "1.2.3.4"}}, cidrs({"127.0.0.1"})).str, "10.0.0.9");
}

TEST(ClientAddress, RightMostUntrustedOfXForwardedFor) {
  auto t = cidrs({"127.0.0.1", "10.0.0.0/8"});
  EXPECT_EQ(who("127.0.0.1", {{"X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.1.1.1"}}, t).str, "1.2.3.4");
  // Several fields are one list, in order.
  EXPECT_EQ(who("127.0.0.1", {{"x-forwarded-for", "6.6.6.6"}, {"X-Forwarded-For", "10.2.2.2"}}, t).str,
            "6.6.6.6");
  // Junk stops the walk at the last good address.
  EXPECT_EQ(who("127.0.0.1", {{"X-Forwarded-For", "junk, 10.1.1.1"}}, t).str, "10.1.1.1");
  auto v = who("127.0.0.1", {{"X-Forwarded-For", "2001:db8::7"}}, t);
  EXPECT_EQ(v.str, "2001:db8::7");
  EXPECT_EQ(v.ip, *core::parse_ip("2001:db8::7"));
}

TEST(ClientAddress, ForwardedWhenNoXForwardedFor) {
  auto t = cidrs({"127.0.0.1"});
  EXPECT_EQ(who("127.0.0.1", {{"Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43"}}, t).str,
            "192.0.2.60");
  EXPECT_EQ(who("127.0.0.1", {{"Forwarded", "for=\"[2001:db8:cafe::17]:4711\""}}, t).str,
            "2001:db8:cafe::17");
  EXPECT_EQ(who("127.0.0.1", {{"Forwarded", "for=6.6.6.6, for=\"192.0.2.1:80\""}}, t).str, "192.0.2.1");
  // An obfuscated node is not an address: the peer stays the client.
  EXPECT_EQ(who("127.0.0.1", {{"Forwarded", "for=_hidden"}}, t).str, "127.0.0.1");
  // X-Forwarded-For wins when both are present.
  EXPECT_EQ(who("127.0.0.1", {{"Forwarded", "for=192.0.2.60"}, {"X-Forwarded-For", "1.2.3.4"}}, t).str,
            "1.2.3.4");
}

TEST(ClientAddress, ForwardedChainShape) {
  EXPECT_EQ(forwarded_for_chain("for=1.2.3.4;proto=https, proto=http, for=\"[::1]:80\""),
            "1.2.3.4, unknown, ::1");
}

}  // namespace
