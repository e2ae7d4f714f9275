// store: redis without a Redis server: the keys a limit uses, and decisions
// that fail at once (nothing listening) or after the timeout (a server that
// never answers), each counted as a store error.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>

#include "policy/redis_buckets.h"

using namespace gh;
using namespace std::chrono_literals;

namespace {

config::RateLimit limit(std::string scope, uint16_t port = 6379) {
  config::RateLimit c;
  c.count = 10;
  c.period_s = 60;
  c.burst = 5;
  c.store = config::RateLimit::Store::redis;
  c.redis.host = "127.0.0.1";
  c.redis.port = port;
  c.redis.timeout = 150ms;
  c.scope = std::move(scope);
  return c;
}

TEST(RedisBuckets, KeysTellRoutesRatesAndKindsApart) {
  const policy::RedisBuckets a(limit("|/a")), b(limit("|/b"));
  EXPECT_NE(a.redis_key("10.0.0.1"), b.redis_key("10.0.0.1"));
  EXPECT_NE(a.redis_key("10.0.0.1"), a.redis_key("10.0.0.2"));
  EXPECT_EQ(a.redis_key("10.0.0.1"), policy::RedisBuckets(limit("|/a")).redis_key("10.0.0.1"));
  config::RateLimit faster = limit("|/a");
  faster.count = 20;
  EXPECT_NE(a.redis_key("x"), policy::RedisBuckets(faster).redis_key("x"));
  config::RateLimit by_header = limit("|/a");
  by_header.key = config::RateLimit::Key::header;
  by_header.header = "X-Api-Key";
  EXPECT_NE(a.redis_key("x"), policy::RedisBuckets(by_header).redis_key("x"));
  EXPECT_EQ(a.redis_key("x").rfind("gatehouse:rl:", 0), 0u);
}

TEST(RedisBuckets, LongKeyValuesAreDigested) {
  const policy::RedisBuckets a(limit("|/"));
  const std::string v1(300, 'a'), v2 = std::string(299, 'a') + "b";
  EXPECT_LT(a.redis_key(v1).size(), 200u);
  EXPECT_NE(a.redis_key(v1), a.redis_key(v2));
}

std::optional<policy::StoreTake> run_take(const policy::RedisBuckets& b, std::chrono::milliseconds& took) {
  // (One context for the whole test program, as a worker has: the thread's
  // Redis connections are bound to it and outlive each test.)
  static net::asio::io_context ctx;
  ctx.restart();
  std::optional<policy::StoreTake> out;
  const auto t0 = std::chrono::steady_clock::now();
  net::asio::co_spawn(
      ctx.get_executor(),
      [&]() -> net::awaitable<void> {
        out = co_await b.take("client");
        ctx.stop();
      },
      net::asio::detached);
  ctx.run_for(5s);
  took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return out;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  return ntohs(a.sin_port);
}

TEST(RedisBuckets, NothingListeningFailsWithoutWaitingTheTimeout) {
  // A port just freed: the connection is refused.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const uint16_t port = port_of(fd);
  close(fd);
  const policy::RedisBuckets b(limit("|/", port));
  const uint64_t errors = policy::rate_limit_store_stats().errors;
  std::chrono::milliseconds took{};
  auto r = run_take(b, took);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(r->error.empty());
  EXPECT_LT(took, 140ms);
  EXPECT_EQ(policy::rate_limit_store_stats().errors, errors + 1);
}

TEST(RedisBuckets, ASilentServerFailsAfterTheTimeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  const policy::RedisBuckets b(limit("|/", port_of(fd)));
  std::chrono::milliseconds took{};
  auto r = run_take(b, took);
  close(fd);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->error.find("no answer within 150 ms"), std::string::npos) << r->error;
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 2s);
}

}  // namespace
