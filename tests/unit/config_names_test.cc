// Direct tables for the text rules behind the loader: addresses, domains,
// route paths and did-you-mean suggestions.
#include <gtest/gtest.h>

#include <string>

#include "config/address.h"
#include "config/did_you_mean.h"
#include "config/keys.h"
#include "config/route_path.h"

using namespace gh::config;

namespace {

struct AddrCase {
  std::string_view text;
  const char* host;  // nullptr: refused
  uint16_t port;
};

TEST(ParseAddress, Table) {
  const AddrCase cases[] = {
      {"10.0.0.1:8000", "10.0.0.1", 8000},
      {"10.0.0.1", "10.0.0.1", 80},
      {"backend.internal:3000", "backend.internal", 3000},
      {"backend", "backend", 80},
      {"my_svc-1.local.:65535", "my_svc-1.local.", 65535},
      {"[::1]:8080", "::1", 8080},
      {"[::1]", "::1", 80},
      {"[2001:db8::ff]:1", "2001:db8::ff", 1},
      // refused
      {"", nullptr, 0},
      {":80", nullptr, 0},
      {"a:", nullptr, 0},
      {"a:0", nullptr, 0},
      {"a:65536", nullptr, 0},
      {"a:080", nullptr, 0},
      {"a:+80", nullptr, 0},
      {"a:8 0", nullptr, 0},
      {"::1", nullptr, 0},      // IPv6 needs brackets here
      {"::1:80", nullptr, 0},
      {"[::1", nullptr, 0},
      {"[::1]:", nullptr, 0},
      {"[::1]80", nullptr, 0},
      {"[]:80", nullptr, 0},
      {"[1.2.3.4]:80", nullptr, 0},
      {"[fe80::1%eth0]:80", nullptr, 0},
      {"http://a:80", nullptr, 0},
      {"a:80/path", nullptr, 0},
      {"a b:80", nullptr, 0},
      {"a..b", nullptr, 0},
      {".a", nullptr, 0},
      {"1.2.3", nullptr, 0},
      {"256.1.1.1:80", nullptr, 0},
      {"010.0.0.1", nullptr, 0},
      {"a\x01:80", nullptr, 0},
      {"caf\xc3\xa9.com", nullptr, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    std::string why;
    auto r = parse_address(c.text, 80, why);
    if (c.host == nullptr) {
      EXPECT_FALSE(r.has_value());
      EXPECT_FALSE(why.empty());
      continue;
    }
    ASSERT_TRUE(r.has_value()) << why;
    EXPECT_EQ(r->host, c.host);
    EXPECT_EQ(r->port, c.port);
  }
}

TEST(ParseHost, LongNames) {
  std::string why;
  std::string label63(63, 'a');
  EXPECT_TRUE(parse_host(label63 + ".com", why));
  EXPECT_FALSE(parse_host(std::string(64, 'a') + ".com", why));
  std::string name;
  while (name.size() < 255) name += "abcd.";
  name += "ef";  // 257 > 253
  EXPECT_TRUE(parse_host(name.substr(0, 253), why)) << why;
  EXPECT_FALSE(parse_host(name, why));
  EXPECT_TRUE(is_dns_name("example.com"));
  EXPECT_FALSE(is_dns_name("10.0.0.1"));
  EXPECT_FALSE(is_dns_name(""));
}

struct DomainCase {
  std::string_view text;
  const char* want;  // nullptr: refused
};

TEST(ParseDomain, Table) {
  const DomainCase cases[] = {
      {"example.com", "example.com"},
      {"API.Example.COM", "api.example.com"},
      {"*.example.com", "*.example.com"},
      {"*.Example.com.", "*.example.com"},
      {"localhost", "localhost"},
      {"127.0.0.1", "127.0.0.1"},
      {"", nullptr},
      {"*", nullptr},
      {"*.", nullptr},
      {"*example.com", nullptr},
      {"a.*.com", nullptr},
      {"**.example.com", nullptr},
      {"*.*.example.com", nullptr},
      {"example.com:443", nullptr},
      {"[::1]", nullptr},
      {"ex ample.com", nullptr},
      {"*.10.0.0.1", nullptr},
      {"1.2.3", nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    std::string why;
    auto r = parse_domain(c.text, why);
    if (c.want == nullptr) {
      EXPECT_FALSE(r.has_value());
    } else {
      ASSERT_TRUE(r.has_value()) << why;
      EXPECT_EQ(*r, c.want);
    }
  }
}

TEST(RoutePath, Table) {
  const DomainCase cases[] = {
      {"/", "/"},
      {"/api", "/api"},
      {"/api/", "/api"},
      {"/a/b/c/", "/a/b/c"},
      {"/%41%2f", "/A%2F"},            // the form requests are routed in (http/path.h)
      {"/%7euser/", "/~user"},
      {"/a;v=1", "/a;v=1"},
      {"/.well-known", "/.well-known"},
      {"/...", "/..."},
      {"", nullptr},
      {"api", nullptr},
      {"//", nullptr},
      {"/a//", nullptr},
      {"/a/./b", nullptr},
      {"/../x", nullptr},
      {"/a/..", nullptr},
      {"/%2e", nullptr},               // encoded dot segments too
      {"/a/%2E%2e/b", nullptr},
      {"/a/..;x", nullptr},            // a dot segment with parameters
      {"/a%00", nullptr},
      {"/a%5Cb", nullptr},
      {"/a?x", nullptr},
      {"/a#x", nullptr},
      {"/a b", nullptr},
      {"/a\tb", nullptr},
      {"/%", nullptr},
      {"/%4", nullptr},
      {"/%g1", nullptr},
      {"/a\"b", nullptr},
      {"/a|b", nullptr},
      {"/\xc3\xa9", nullptr},
      {std::string_view("/a\0b", 4), nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    std::string why;
    auto r = normalize_route_path(c.text, why);
    if (c.want == nullptr) {
      EXPECT_FALSE(r.has_value());
      EXPECT_FALSE(why.empty());
    } else {
      ASSERT_TRUE(r.has_value()) << why;
      EXPECT_EQ(*r, c.want);
    }
  }
  std::string why;
  EXPECT_TRUE(valid_check_path("/healthz?full=1&x=%20", why));
  EXPECT_FALSE(valid_check_path("healthz", why));
  EXPECT_FALSE(valid_check_path("/h#frag", why));
  EXPECT_FALSE(valid_check_path("/h x", why));
}

TEST(DidYouMean, Distance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("port", "port"), 0u);
  EXPECT_EQ(edit_distance("Port", "port"), 0u);  // case is ignored
  EXPECT_EQ(edit_distance("prot", "port"), 1u);  // swap of neighbours
  EXPECT_EQ(edit_distance("strip_prefx", "strip_prefix"), 1u);
  EXPECT_EQ(edit_distance("hots", "host"), 1u);
  EXPECT_EQ(edit_distance("ssl", "sni"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance(std::string(65, 'a'), "a"), 99u);
}

TEST(DidYouMean, Closest) {
  auto route = std::span<const std::string_view>(keys::kRoute);
  EXPECT_EQ(closest("strip_prefx", route), std::optional<std::string_view>("strip_prefix"));
  EXPECT_EQ(closest("backend", route), std::optional<std::string_view>("backends"));
  EXPECT_EQ(closest("pth", route), std::optional<std::string_view>("path"));
  EXPECT_EQ(closest("SSL", route), std::optional<std::string_view>("ssl"));
  EXPECT_EQ(closest("websockets", route), std::optional<std::string_view>("websocket"));
  EXPECT_EQ(closest("upstream", route), std::nullopt);
  EXPECT_EQ(closest("x", route), std::nullopt);
  EXPECT_EQ(closest("", route), std::nullopt);
  // Short names need a near-exact match: "pot" is 1 from "port", "pt" is 2.
  EXPECT_EQ(closest("pot", route), std::optional<std::string_view>("port"));
  EXPECT_EQ(closest("pt", route), std::nullopt);
}

}  // namespace
