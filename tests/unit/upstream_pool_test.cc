#include "upstream/pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "net/deadlines.h"

namespace gh::upstream {
namespace {

using net::asio::ip::tcp;

// A connected pair: `ours` goes into the pool, `peer` plays the backend.
struct Pair {
  explicit Pair(net::asio::io_context& ctx) : ours(ctx.get_executor()), peer(ctx) {
    tcp::acceptor acc(ctx, tcp::endpoint(net::asio::ip::make_address("127.0.0.1"), 0));
    ours.connect(acc.local_endpoint());
    acc.accept(peer);
  }
  net::Socket ours;
  tcp::socket peer;
};

bool peer_sees_close(tcp::socket& peer) {
  char c;
  net::error_code ec;
  peer.non_blocking(false);
  peer.read_some(net::asio::buffer(&c, 1), ec);
  // Closed with unread bytes, the kernel sends a reset instead of a FIN.
  return ec == net::asio::error::eof || ec == net::asio::error::connection_reset;
}

// A pool and one backend; pairs made on the fixture's io_context.
class PoolTest : public ::testing::Test {
 protected:
  void put(Pair& p) { pool.put(std::make_unique<UpConn>(net::Stream(std::move(p.ours)), b)); }
  net::asio::io_context ctx;
  Backend backend;
  Backend* b = &backend;
  Pool pool;
};

bool peer_still_open(tcp::socket& peer) {
  char c;
  return ::recv(peer.native_handle(), &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

TEST_F(PoolTest, TakesTheNewestIdleConnectionFirst) {
  Pair one(ctx), two(ctx);
  put(one);
  auto second = std::make_unique<UpConn>(net::Stream(std::move(two.ours)), b);
  int second_fd = second->stream.socket().native_handle();
  pool.put(std::move(second));
  auto got = pool.take(b);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->stream.socket().native_handle(), second_fd);
  EXPECT_TRUE(pool.take(b));
  EXPECT_FALSE(pool.take(b));
}

TEST_F(PoolTest, ExpireClosesOnlyConnectionsIdleTooLong) {
  pool.idle_timeout_ms = 40;
  Pair old_conn(ctx), fresh(ctx);
  put(old_conn);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  put(fresh);
  pool.expire(net::now_ms());
  EXPECT_TRUE(peer_sees_close(old_conn.peer)) << "the old connection is closed";
  EXPECT_TRUE(peer_still_open(fresh.peer));
  EXPECT_TRUE(pool.take(b));
  EXPECT_FALSE(pool.take(b)) << "the expired one is gone";
}

TEST_F(PoolTest, ADeadConnectionIsNotHandedOut) {
  Pair p(ctx);
  put(p);
  p.peer.close();
  std::this_thread::sleep_for(std::chrono::milliseconds(Pool::kPeekAfterMs + 15));
  EXPECT_FALSE(pool.take(b));
}

TEST_F(PoolTest, AConnectionWithUnreadBytesIsNotHandedOut) {
  // A backend that sent more than its response said: those bytes must never
  // be read as the answer to the next request.
  Pair p(ctx);
  put(p);
  net::asio::write(p.peer, net::asio::buffer("HTTP/1.1 200 OK\r\n", 17));
  std::this_thread::sleep_for(std::chrono::milliseconds(Pool::kPeekAfterMs + 15));
  EXPECT_FALSE(pool.take(b));
  EXPECT_TRUE(peer_sees_close(p.peer));
}

TEST_F(PoolTest, AConnectionReusedAtOnceSkipsThePeek) {
  // The cheap path under load: no syscall when reused within kPeekAfterMs.
  Pair p(ctx);
  const auto put_at = std::chrono::steady_clock::now();
  put(p);
  net::asio::write(p.peer, net::asio::buffer("x", 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bool taken = static_cast<bool>(pool.take(b));
  // The pool counts whole milliseconds (floor of each stamp), so 4.x ms of
  // real time can read as kPeekAfterMs: only a reuse within kPeekAfterMs - 1
  // is certain to take the cheap path.
  if (std::chrono::steady_clock::now() - put_at >= std::chrono::milliseconds(Pool::kPeekAfterMs - 1))
    GTEST_SKIP() << "the machine was too busy to reuse within kPeekAfterMs";
  EXPECT_TRUE(taken);
}

TEST_F(PoolTest, KeepsAtMostMaxIdleDroppingTheOldest) {
  pool.max_idle_per_backend = 2;
  Pair p1(ctx), p2(ctx), p3(ctx);
  put(p1);
  put(p2);
  put(p3);
  EXPECT_TRUE(peer_sees_close(p1.peer));
  EXPECT_TRUE(peer_still_open(p2.peer));
  EXPECT_TRUE(peer_still_open(p3.peer));
}

// A reload frees the old config's backends while the worker's pool still
// holds their idle connections; a new backend allocated at the same address
// must not be handed a connection to the old one's host.
TEST_F(PoolTest, ABackendAtTheAddressOfAFreedOneGetsNoneOfItsConnections) {
  alignas(Backend) unsigned char storage[sizeof(Backend)];
  auto* old_b = new (storage) Backend;
  old_b->host = "10.0.0.1";
  Pair p(ctx);
  pool.put(std::make_unique<UpConn>(net::Stream(std::move(p.ours)), old_b));
  old_b->~Backend();
  auto* new_b = new (storage) Backend;   // the same address, another backend
  new_b->host = "10.0.0.2";
  EXPECT_EQ(pool.take(new_b), nullptr);
  new_b->~Backend();
}

}  // namespace
}  // namespace gh::upstream
