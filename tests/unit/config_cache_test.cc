// The `cache` policy key (CONTRACT "Policies", docs/caching.md): true/false
// or a map, route over server, and a FILE:LINE:COL error for every bad value.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;

namespace {

TEST(CacheConfig, OffUnlessAsked) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_FALSE(r.config->server.reverse_proxy[0].policies.cache);
  r = load("server:\n  reverse_proxy:\n    - path: /\n      cache: false\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  ASSERT_TRUE(r.config->server.reverse_proxy[0].policies.cache);
  EXPECT_FALSE(r.config->server.reverse_proxy[0].policies.cache->enabled);
}

TEST(CacheConfig, TrueTakesTheDefaults) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      cache: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.warnings.empty());
  const auto& c = r.config->server.reverse_proxy[0].policies.cache;
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->max_size, 256u << 20);
  EXPECT_EQ(c->max_object, 8u << 20);
}

TEST(CacheConfig, MapSetsEachKey) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      cache: {max_size: 1g, max_object: 512k}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& c = r.config->server.reverse_proxy[0].policies.cache;
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->max_size, 1ull << 30);
  EXPECT_EQ(c->max_object, 512u << 10);
}

TEST(CacheConfig, ASmallStoreBoundsTheDefaultMaxObject) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      cache: {max_size: 1m}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& c = r.config->server.reverse_proxy[0].policies.cache;
  EXPECT_EQ(c->max_size, 1u << 20);
  EXPECT_EQ(c->max_object, 1u << 20);
}

TEST(CacheConfig, RouteReplacesServer) {
  LoadResult r = load(
      "server:\n  cache: {max_size: 64m}\n  reverse_proxy:\n    - path: /a\n      cache: false\n"
      "    - path: /b\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& s = r.config->server;
  Policies a = effective_policies(s.policies, s.reverse_proxy[0].policies);
  Policies b = effective_policies(s.policies, s.reverse_proxy[1].policies);
  ASSERT_TRUE(a.cache && b.cache);
  EXPECT_FALSE(a.cache->enabled);
  EXPECT_TRUE(b.cache->enabled);
  EXPECT_EQ(b.cache->max_size, 64u << 20);
}

struct Bad {
  const char* yaml;   // the value of `cache:` on line 4
  int col;
  const char* says;
};

TEST(CacheConfig, BadValuesAreFileLineColErrors) {
  const Bad cases[] = {
      {"{max_size: banana}", 25, ""},
      {"{max_size: 10}", 25, ""},                       // under 1 KiB: a mistake
      {"{max_object: 0}", 27, ""},
      {"{max_size: 1m, max_object: 2m}", 41, "larger than 'cache.max_size'"},
      {"{max_objects: 1m}", 15, "max_object"},          // did you mean
      {"{ttl: 5m}", 15, ""},
      {"maybe", 14, "{max_size: 256m, max_object: 8m}"},
      {"1", 14, "must be true or false"},
  };
  for (const Bad& b : cases) {
    LoadResult r = load(std::string("server:\n  reverse_proxy:\n    - path: /\n      cache: ") + b.yaml + "\n");
    ASSERT_FALSE(r.errors.empty()) << b.yaml;
    EXPECT_EQ(r.errors[0].line, 4) << b.yaml;
    EXPECT_EQ(r.errors[0].col, b.col) << b.yaml << ": " << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(b.says), std::string::npos) << r.errors[0].str();
  }
}

}  // namespace

namespace {

TEST(RateLimitConfig, RateBurstKeyStore) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      rate_limit: {rate: 100/s, burst: 50, key: client_ip, store: local}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& rl = r.config->server.reverse_proxy[0].policies.rate_limit;
  ASSERT_TRUE(rl);
  EXPECT_EQ(rl->count, 100u);
  EXPECT_EQ(rl->period_s, 1u);
  EXPECT_EQ(rl->burst, 50u);
  EXPECT_EQ(rl->key, RateLimit::Key::client_ip);
  r = load("server:\n  rate_limit: {rate: 600/m, key: header:X-Api-Key}\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& s = r.config->server.policies.rate_limit;
  EXPECT_EQ(s->count, 600u);
  EXPECT_EQ(s->period_s, 60u);
  EXPECT_EQ(s->burst, 600u);   // default: one period's worth
  EXPECT_EQ(s->key, RateLimit::Key::header);
  EXPECT_EQ(s->header, "X-Api-Key");
  r = load("server:\n  reverse_proxy:\n    - path: /\n      rate_limit: {rate: 5/h, key: route}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.reverse_proxy[0].policies.rate_limit->period_s, 3600u);
}

TEST(RateLimitConfig, BadValuesAreFileLineColErrors) {
  const Bad cases[] = {
      {"{rate: 100}", 26, "N/s, N/m or N/h"},
      {"{rate: 0/s}", 26, "N/s, N/m or N/h"},
      {"{rate: 10/d}", 26, "N/s, N/m or N/h"},
      {"{rate: 10/s, burst: 0}", 39, ""},
      {"{rate: 10/s, key: user}", 37, "client_ip, route or header:NAME"},
      {"{rate: 10/s, key: 'header:'}", 37, "client_ip, route or header:NAME"},
      {"{rate: 10/s, store: redis}", 39, "needs a top-level 'redis' section"},
      {"{burst: 5}", 19, "needs a 'rate'"},
      {"{rate: 10/s, rates: 1}", 32, "rate"},
  };
  for (const Bad& b : cases) {
    LoadResult r = load(std::string("server:\n  reverse_proxy:\n    - path: /\n      rate_limit: ") + b.yaml + "\n");
    ASSERT_FALSE(r.errors.empty()) << b.yaml;
    EXPECT_EQ(r.errors[0].line, 4) << b.yaml;
    EXPECT_EQ(r.errors[0].col, b.col) << b.yaml << ": " << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(b.says), std::string::npos) << r.errors[0].str();
  }
}

}  // namespace
