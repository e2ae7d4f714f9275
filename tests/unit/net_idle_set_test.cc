#include "net/idle_set.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

namespace gh::net {
namespace {

// A connected TCP pair on 127.0.0.1: `server` is an Asio socket on ctx (as
// an accepted connection would be), `client` a plain fd the test drives.
struct Pair {
  explicit Pair(asio::io_context& ctx) : server(ctx.get_executor()) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket c(ctx);
    c.connect(acc.local_endpoint());
    acc.accept(server);
    client = c.release();
  }
  ~Pair() {
    if (client >= 0) ::close(client);
  }
  Socket server;
  int client = -1;
};

struct Woken {
  std::optional<Socket> socket;
  IdleConn conn;
  int count = 0;
};

IdleConn conn_for_test(int64_t expire_at, uint16_t port = 4242) {
  IdleConn c;
  c.ip = *core::parse_ip("127.0.0.1");
  c.port = port;
  c.local_port = 8080;
  c.expire_at_ms = expire_at;
  return c;
}

// Runs ctx until pred() or 2 s pass.
template <class Pred>
bool run_until(asio::io_context& ctx, Pred pred) {
  auto end = now_ms() + 2000;
  while (!pred() && now_ms() < end) {
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(IdleSet, WakesWithTheSocketBackInAsioAndTheConnectionDetails) {
  asio::io_context ctx(1);
  Woken w;
  IdleSet set(ctx, [&](Socket s, IdleConn c) {
    w.socket.emplace(std::move(s));
    w.conn = std::move(c);
    ++w.count;
  });
  Pair p(ctx);
  ASSERT_TRUE(set.hold(p.server, conn_for_test(0)));
  EXPECT_FALSE(p.server.is_open());
  EXPECT_EQ(set.size(), 1u);
  ctx.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(w.count, 0) << "woken with nothing to read";

  ASSERT_EQ(::send(p.client, "GET", 3, 0), 3);
  ASSERT_TRUE(run_until(ctx, [&] { return w.count == 1; }));
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(w.conn.port, 4242);
  EXPECT_EQ(w.conn.local_port, 8080);
  EXPECT_EQ(core::format_ip(w.conn.ip), "127.0.0.1");
  // The bytes are still there for the session, through Asio.
  char buf[8];
  error_code ec;
  size_t n = w.socket->read_some(asio::buffer(buf), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, n), "GET");
}

TEST(IdleSet, BytesAlreadyWaitingWakeAtOnce) {
  asio::io_context ctx(1);
  int woken = 0;
  IdleSet set(ctx, [&](Socket, IdleConn) { ++woken; });
  Pair p(ctx);
  ASSERT_EQ(::send(p.client, "x", 1, 0), 1);
  usleep(10000);
  ASSERT_TRUE(set.hold(p.server, conn_for_test(0)));
  EXPECT_TRUE(run_until(ctx, [&] { return woken == 1; }));
}

TEST(IdleSet, PeerCloseWakesSoTheSessionSeesTheEnd) {
  asio::io_context ctx(1);
  std::optional<Socket> got;
  IdleSet set(ctx, [&](Socket s, IdleConn) { got.emplace(std::move(s)); });
  Pair p(ctx);
  ASSERT_TRUE(set.hold(p.server, conn_for_test(0)));
  ::close(p.client);
  p.client = -1;
  ASSERT_TRUE(run_until(ctx, [&] { return got.has_value(); }));
  char c;
  error_code ec;
  got->read_some(asio::buffer(&c, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(IdleSet, ExpireClosesOnlyDueConnections) {
  asio::io_context ctx(1);
  int woken = 0;
  IdleSet set(ctx, [&](Socket, IdleConn) { ++woken; });
  Pair due(ctx), later(ctx), never(ctx);
  int64_t now = now_ms();
  ASSERT_TRUE(set.hold(due.server, conn_for_test(now - 1)));
  ASSERT_TRUE(set.hold(later.server, conn_for_test(now + 60000)));
  ASSERT_TRUE(set.hold(never.server, conn_for_test(0)));
  set.expire(now);
  EXPECT_EQ(set.size(), 2u);
  char c;
  EXPECT_EQ(::recv(due.client, &c, 1, 0), 0) << "the due connection gets a FIN";
  EXPECT_EQ(::recv(later.client, &c, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
  set.close_all();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(::recv(later.client, &c, 1, 0), 0);
  EXPECT_EQ(::recv(never.client, &c, 1, 0), 0);
  ctx.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(woken, 0);
}

TEST(IdleSet, ManyConnectionsAcrossChunksEachWakeOnce) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 1600) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 1600);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < 1600) GTEST_SKIP() << "RLIMIT_NOFILE too low";
  asio::io_context ctx(1);
  int woken = 0;
  IdleSet set(ctx, [&](Socket, IdleConn) { ++woken; });
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < 700; ++i) {   // more than one chunk of slots
    pairs.push_back(std::make_unique<Pair>(ctx));
    ASSERT_TRUE(set.hold(pairs.back()->server, conn_for_test(0, uint16_t(i))));
  }
  EXPECT_EQ(set.size(), 700u);
  // Every one wakes once, with its own details.
  for (auto& p : pairs) ASSERT_EQ(::send(p->client, "y", 1, 0), 1);
  EXPECT_TRUE(run_until(ctx, [&] { return woken == 700; })) << woken;
  EXPECT_EQ(set.size(), 0u);
}

TEST(IdleSet, RefusesAClosedSocketAndKeepsTheConnectionDetails) {
  asio::io_context ctx(1);
  IdleSet set(ctx, [](Socket, IdleConn) {});
  Socket closed(ctx.get_executor());
  IdleConn c = conn_for_test(0, 77);
  EXPECT_FALSE(set.hold(closed, std::move(c)));
  EXPECT_EQ(c.port, 77);
  EXPECT_EQ(set.size(), 0u);
}

}  // namespace
}  // namespace gh::net
