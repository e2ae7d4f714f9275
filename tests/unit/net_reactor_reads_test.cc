// net/inq_read.h (reads that know they drained the socket) and
// net/close_watch.h (a peer's close seen without reading), on loopback.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/write.hpp>

#include "net/close_watch.h"
#include "net/inq_read.h"

namespace gh::net {
namespace net_reactor_reads_test {

using namespace std::chrono_literals;

// A connected pair: `client` is a blocking Asio socket, `server` the socket
// under test on ctx.
struct Pair {
  explicit Pair(asio::io_context& ctx) : client(ctx), server(ctx.get_executor()) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acc.local_endpoint());
    acc.accept(server);
  }
  void send(std::string_view s) { asio::write(client, asio::buffer(s.data(), s.size())); }
  void reset() {
    ::linger l{1, 0};   // close with RST
    ::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    client.close();
  }
  tcp::socket client;
  Socket server;
};

struct ReadResult {
  bool done = false;
  error_code ec;
  std::string bytes;
};

void start_read(Socket& s, ReadResult& r) {
  r = ReadResult{};
  asio::co_spawn(
      s.get_executor(),
      [&s, &r]() -> awaitable<void> {
        char buf[256];
        auto [ec, n] = co_await async_read_some_inq(s, asio::buffer(buf));
        r.ec = ec;
        r.bytes.assign(buf, n);
        r.done = true;
      },
      asio::detached);
}

// Runs ctx until `r` is done or `limit` passes.
void run_until(asio::io_context& ctx, const bool& done, std::chrono::milliseconds limit = 2s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  ctx.restart();
  while (!done && std::chrono::steady_clock::now() < end) ctx.run_for(10ms);
}

TEST(InqRead, ReadsWhatArrivesAndThenWaitsForMore) {
  asio::io_context ctx;
  Pair p(ctx);
  ASSERT_TRUE(enable_read_inq(p.server));
  ReadResult r;
  p.send("hello");
  start_read(p.server, r);
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.bytes, "hello");
  // That read drained the socket: the next one waits for epoll, and still
  // gets what comes later.
  start_read(p.server, r);
  run_until(ctx, r.done, 50ms);
  EXPECT_FALSE(r.done);
  p.send("again");
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.bytes, "again");
}

// The case a read that only trusted its short count would hang on: the last
// bytes and the FIN are reported by epoll together.
TEST(InqRead, AFinThatCameWithTheLastBytesIsStillSeen) {
  asio::io_context ctx;
  Pair p(ctx);
  ASSERT_TRUE(enable_read_inq(p.server));
  p.send("bye");
  p.client.shutdown(tcp::socket::shutdown_send);
  ReadResult r;
  start_read(p.server, r);
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.bytes, "bye");
  start_read(p.server, r);
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done) << "the FIN behind the last bytes was lost";
  EXPECT_EQ(r.ec, asio::error::eof);
}

TEST(InqRead, AFullBufferLeavesTheRestForTheNextRead) {
  asio::io_context ctx;
  Pair p(ctx);
  ASSERT_TRUE(enable_read_inq(p.server));
  std::string big(300, 'x');
  p.send(big);
  ReadResult r;
  std::string got;
  for (int i = 0; i < 2; ++i) {
    start_read(p.server, r);
    run_until(ctx, r.done);
    ASSERT_TRUE(r.done);
    got += r.bytes;
  }
  EXPECT_EQ(got, big);
}

TEST(InqRead, CancelEndsAWaitingRead) {
  asio::io_context ctx;
  Pair p(ctx);
  ASSERT_TRUE(enable_read_inq(p.server));
  ReadResult r;
  start_read(p.server, r);
  run_until(ctx, r.done, 20ms);
  ASSERT_FALSE(r.done);
  p.server.cancel();
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.ec, asio::error::operation_aborted);
}

TEST(InqRead, AResetIsAnError) {
  asio::io_context ctx;
  Pair p(ctx);
  ASSERT_TRUE(enable_read_inq(p.server));
  ReadResult r;
  start_read(p.server, r);
  run_until(ctx, r.done, 20ms);
  p.reset();
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_TRUE(r.ec);
  EXPECT_NE(r.ec, asio::error::eof);
}

void count_close(void* ctx) { ++*static_cast<int*>(ctx); }

// A connected pair, a watch and its count of closes. The watch is declared
// after the pair, so it goes first, as in a session.
struct CloseWatchTest : ::testing::Test {
  asio::io_context ctx;
  Pair p{ctx};
  CloseWatch w;
  int closes = 0;

  void start_watch() { w.start(p.server, &count_close, &closes); }
  // Runs the loop for `limit` (nothing ends it early).
  void run_for(std::chrono::milliseconds limit) {
    bool never = false;
    run_until(ctx, never, limit);
  }
};

TEST_F(CloseWatchTest, SeesTheFin) {
  start_watch();
  EXPECT_TRUE(w.running());
  run_for(30ms);
  EXPECT_EQ(closes, 0);
  p.client.shutdown(tcp::socket::shutdown_send);
  run_for(100ms);
  EXPECT_EQ(closes, 1);
  EXPECT_FALSE(w.running());
}

TEST_F(CloseWatchTest, SeesAReset) {
  start_watch();
  p.reset();
  run_for(100ms);
  EXPECT_EQ(closes, 1);
}

TEST_F(CloseWatchTest, BytesAreNotACloseAndStayUnread) {
  start_watch();
  p.send("GET / HTTP/1.1\r\n");
  run_for(100ms);
  EXPECT_EQ(closes, 0);
  EXPECT_FALSE(w.running()) << "bytes end the watch";
  ReadResult r;
  ASSERT_TRUE(enable_read_inq(p.server));
  start_read(p.server, r);
  run_until(ctx, r.done);
  EXPECT_EQ(r.bytes, "GET / HTTP/1.1\r\n");
}

TEST_F(CloseWatchTest, NothingAfterStop) {
  start_watch();
  run_for(20ms);
  w.stop();
  EXPECT_FALSE(w.running());
  p.client.shutdown(tcp::socket::shutdown_send);
  run_for(100ms);
  EXPECT_EQ(closes, 0);
  // The socket reads normally afterwards.
  ReadResult r;
  start_read(p.server, r);
  run_until(ctx, r.done);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.ec, asio::error::eof);
}

// A session can end right after stopping its watch, before the cancelled
// operation's completion runs: that completion must touch nothing of it.
TEST_F(CloseWatchTest, TheWatchMayGoBeforeItsCancelledOperationCompletes) {
  {
    auto own = std::make_unique<CloseWatch>();
    own->start(p.server, &count_close, &closes);
    p.client.shutdown(tcp::socket::shutdown_send);
    own->stop();
    own.reset();   // (an ASan build sees any touch of it from here on)
  }
  run_for(50ms);
  EXPECT_EQ(closes, 0);
}

TEST_F(CloseWatchTest, AFinThatCameBeforeTheWatchIsSeen) {
  p.client.shutdown(tcp::socket::shutdown_send);
  start_watch();
  EXPECT_EQ(closes, 0) << "never called from start()";
  run_for(100ms);
  EXPECT_EQ(closes, 1);
}

// epoll reported the FIN while nothing waited on the socket (its edge is
// spent): the peek at start still sees it.
TEST_F(CloseWatchTest, AFinEpollReportedBeforeTheWatchIsSeen) {
  ReadResult r;
  p.send("request");
  start_read(p.server, r);
  run_until(ctx, r.done);
  ASSERT_EQ(r.bytes, "request");
  p.client.shutdown(tcp::socket::shutdown_send);
  asio::steady_timer t(ctx, 50ms);   // keeps the loop (and epoll) running
  t.async_wait([](error_code) {});
  ctx.restart();
  ctx.run();
  start_watch();
  run_for(100ms);
  EXPECT_EQ(closes, 1);
}

TEST_F(CloseWatchTest, SocketCancelEndsItQuietly) {
  start_watch();
  p.server.cancel();
  run_for(30ms);
  EXPECT_FALSE(w.running());
  p.client.shutdown(tcp::socket::shutdown_send);
  run_for(50ms);
  EXPECT_EQ(closes, 0);
}

}  // namespace net_reactor_reads_test
}  // namespace gh::net
