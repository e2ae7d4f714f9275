// The top-level `redis` section and `rate_limit`'s `store: redis` / `fail`
// keys (CONTRACT "Policies", issue 15): FILE:LINE:COL errors for every bad
// value, and the section copied into each limit that uses it.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;

namespace {

const std::string kRoute = "server:\n  reverse_proxy:\n    - path: /api\n      rate_limit: ";

TEST(RedisConfig, StoreRedisTakesTheSection) {
  LoadResult r = load(kRoute + "{rate: 10/s, store: redis, fail: closed}\n"
                      "redis:\n  address: 10.1.2.3:6380\n  timeout: 250ms\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& rl = r.config->server.reverse_proxy[0].policies.rate_limit;
  ASSERT_TRUE(rl);
  EXPECT_EQ(rl->store, RateLimit::Store::redis);
  EXPECT_EQ(rl->fail, RateLimit::Fail::closed);
  EXPECT_EQ(rl->redis.host, "10.1.2.3");
  EXPECT_EQ(rl->redis.port, 6380);
  EXPECT_EQ(rl->redis.timeout, std::chrono::milliseconds(250));
  ASSERT_TRUE(r.config->redis);
  EXPECT_EQ(r.config->redis->host, "10.1.2.3");
}

TEST(RedisConfig, DefaultsAndSectionBeforeServer) {
  // (The section may come first; the port defaults to 6379, the timeout to
  // 100 ms, fail to open.)
  LoadResult r = load("redis: {address: 'redis.internal'}\nserver:\n  rate_limit: {rate: 5/m, store: redis}\n"
                      "  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& rl = r.config->server.policies.rate_limit;
  EXPECT_EQ(rl->redis.host, "redis.internal");
  EXPECT_EQ(rl->redis.port, 6379);
  EXPECT_EQ(rl->redis.timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(rl->fail, RateLimit::Fail::open);
  r = load("redis: {address: '[::1]:7000'}\nserver:\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->redis->host, "::1");
  EXPECT_EQ(r.config->redis->port, 7000);
}

TEST(RedisConfig, LocalLimitsIgnoreTheSection) {
  LoadResult r = load(kRoute + "{rate: 10/s}\nredis: {address: 127.0.0.1:6379}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.reverse_proxy[0].policies.rate_limit->store, RateLimit::Store::local);
  EXPECT_TRUE(r.config->server.reverse_proxy[0].policies.rate_limit->redis.host.empty());
}

TEST(RedisConfig, StoreRedisWithoutTheSectionIsAnErrorAtStore) {
  LoadResult r = load(kRoute + "{rate: 10/s, store: redis}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 39);
  EXPECT_NE(r.errors[0].message.find("needs a top-level 'redis' section"), std::string::npos)
      << r.errors[0].str();
}

struct Bad {
  const char* yaml;
  int line;
  int col;
  const char* says;
};

TEST(RedisConfig, BadValuesAreFileLineColErrors) {
  const Bad cases[] = {
      {"redis: {address: 'http://r:6379'}\n", 5, 18, "redis 'address'"},
      {"redis: {address: 'r:0'}\n", 5, 18, "redis 'address'"},
      {"redis: {address: '::1'}\n", 5, 18, "redis 'address'"},
      {"redis: {timeout: 1s}\n", 5, 8, "needs an 'address'"},
      {"redis: {address: r, timeout: 0s}\n", 5, 30, "timeout"},
      {"redis: {address: r, timeout: 11s}\n", 5, 30, "at most 10s"},
      {"redis: {address: r, timout: 1s}\n", 5, 21, "timeout"},
      {"redis: [r]\n", 5, 8, ""},
  };
  for (const Bad& b : cases) {
    LoadResult r = load(kRoute + "{rate: 10/s, store: redis}\n" + b.yaml);
    ASSERT_FALSE(r.errors.empty()) << b.yaml;
    EXPECT_EQ(r.errors[0].line, b.line) << b.yaml << ": " << r.errors[0].str();
    EXPECT_EQ(r.errors[0].col, b.col) << b.yaml << ": " << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(b.says), std::string::npos) << r.errors[0].str();
  }
}

TEST(RedisConfig, BadFailIsAnError) {
  LoadResult r = load(kRoute + "{rate: 10/s, fail: shut}\n");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 38);
  EXPECT_NE(r.errors[0].message.find("open"), std::string::npos) << r.errors[0].str();
  EXPECT_NE(r.errors[0].message.find("closed"), std::string::npos) << r.errors[0].str();
}

TEST(RedisConfig, PasswordFileAndDb) {
  const std::string dir = testing::TempDir();
  const std::string good = dir + "/redis-pass", empty = dir + "/redis-empty";
  { std::ofstream(good) << "s3cret\nignored\n"; }
  { std::ofstream(empty) << "\n"; }
  LoadResult r = load(kRoute + "{rate: 10/s, store: redis}\nredis: {address: r, password_file: '" + good +
                      "', db: 3}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& rl = r.config->server.reverse_proxy[0].policies.rate_limit;
  EXPECT_EQ(rl->redis.password, "s3cret");
  EXPECT_EQ(rl->redis.db, 3u);
  r = load(kRoute + "{rate: 10/s, store: redis}\nredis: {address: r, password_file: '" + empty + "'}\n");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].line, 5);
  EXPECT_NE(r.errors[0].message.find("first line must hold the password"), std::string::npos)
      << r.errors[0].str();
  r = load(kRoute + "{rate: 10/s, store: redis}\nredis: {address: r, password_file: '" + dir +
           "/none-such'}\n");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].line, 5);
  r = load(kRoute + "{rate: 10/s, store: redis}\nredis: {address: r, db: -1}\n");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].col, 25) << r.errors[0].str();
}

}  // namespace
