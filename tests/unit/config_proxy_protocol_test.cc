// server.proxy_protocol (CONTRACT "L4 streams, PROXY protocol, ACME"): a
// bool, off by default, and an error (FILE:LINE:COL) when it is on with no
// trusted_proxies, since then no peer could ever be served.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using namespace gh::config_test;

namespace {

TEST(ProxyProtocolConfig, OffByDefault) {
  LoadResult r = load("server:\n  port: 8080\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_FALSE(r.config->server.proxy_protocol);
}

TEST(ProxyProtocolConfig, OnWithTrustedProxies) {
  LoadResult r = load("server:\n  proxy_protocol: true\n  trusted_proxies: [10.0.0.0/8, fd00::/8]\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.config->server.proxy_protocol);
  EXPECT_EQ(r.config->server.trusted_proxies.size(), 2u);
}

TEST(ProxyProtocolConfig, TrustedProxiesMayComeFirst) {
  LoadResult r = load("server:\n  trusted_proxies: [127.0.0.1]\n  proxy_protocol: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.config->server.proxy_protocol);
}

TEST(ProxyProtocolConfig, OffWithoutTrustedProxiesIsFine) {
  LoadResult r = load("server:\n  proxy_protocol: false\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_FALSE(r.config->server.proxy_protocol);
}

TEST(ProxyProtocolConfig, OnWithoutTrustedProxiesIsAnError) {
  LoadResult r = load("server:\n  port: 8080\n  proxy_protocol: true\n");
  const Error& e = only_error(r, 3, 19);
  EXPECT_TRUE(mentions(e, "trusted_proxies")) << e.str();
}

TEST(ProxyProtocolConfig, OnWithAnEmptyTrustedListIsAnError) {
  LoadResult r = load("server:\n  proxy_protocol: true\n  trusted_proxies: []\n");
  const Error& e = only_error(r, 2, 19);
  EXPECT_TRUE(mentions(e, "trusted_proxies")) << e.str();
}

TEST(ProxyProtocolConfig, NotABool) {
  LoadResult r = load("server:\n  proxy_protocol: v2\n  trusted_proxies: [127.0.0.1]\n");
  const Error& e = only_error(r, 2, 19);
  EXPECT_TRUE(mentions(e, "proxy_protocol")) << e.str();
}

TEST(ProxyProtocolConfig, MisspelledKeyGetsDidYouMean) {
  LoadResult r = load("server:\n  proxy_protocl: true\n");
  const Error& e = only_error(r, 2, 3);
  EXPECT_TRUE(mentions(e, "proxy_protocol")) << e.str();
}

}  // namespace
