#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <vector>

#include "net/adopt.h"
#include "net/deadlines.h"
#include "net/peek.h"

namespace gh::net {
namespace {

// A connection accepted with accept4(SOCK_NONBLOCK) and adopted, as the
// server's accept loop does; the client side is a plain blocking socket.
struct Accepted {
  explicit Accepted(asio::io_context& ctx) : client(ctx), server(ctx.get_executor()) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acc.local_endpoint());
    int fd = ::accept4(acc.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    adopted = adopt_nonblocking(server, fd, false, ec);
  }
  error_code ec;
  bool adopted = false;
  tcp::socket client;
  Socket server;
};

// Complete once the bytes hold a line ending in '\n'; invalid on a '!'.
PeekVerdict line_judge(std::string_view in) {
  if (in.find('!') != std::string_view::npos) return PeekVerdict::invalid;
  return in.find('\n') == std::string_view::npos ? PeekVerdict::need_more : PeekVerdict::complete;
}

struct Outcome {
  std::optional<PeekResult> result;
  std::string buf;
  int judged = 0;
  int64_t took_ms = 0;
};

// Runs peek_prefix on the server side while `writes` (delay ms, bytes; a
// null string shuts the client's send side down) happen on the client.
Outcome run(asio::io_context& ctx, Accepted& a, size_t max_bytes, int64_t timeout_ms,
            std::vector<std::pair<int, std::optional<std::string>>> writes,
            std::function<PeekVerdict(std::string_view)> judge = line_judge) {
  Outcome out;
  std::function<PeekVerdict(std::string_view)> counted = [&](std::string_view in) {
    ++out.judged;
    return judge(in);
  };
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  int at = 0;
  for (auto& [delay, bytes] : writes) {
    at += delay;
    if (at == 0) {
      if (bytes) asio::write(a.client, asio::buffer(*bytes));
      else a.client.shutdown(tcp::socket::shutdown_send);
      continue;
    }
    auto t = std::make_unique<asio::steady_timer>(ctx, std::chrono::milliseconds(at));
    t->async_wait([&a, bytes = bytes](error_code ec) {
      if (ec) return;
      if (bytes) asio::write(a.client, asio::buffer(*bytes));
      else a.client.shutdown(tcp::socket::shutdown_send);
    });
    timers.push_back(std::move(t));
  }
  const int64_t start = now_us();
  asio::co_spawn(
      ctx.get_executor(),
      [&]() -> awaitable<void> {
        PeekResult r = co_await peek_prefix(a.server, max_bytes, now_ms() + timeout_ms, counted, out.buf);
        out.result = r;
        out.took_ms = (now_us() - start) / 1000;
        for (auto& t : timers) t->cancel();
      },
      asio::detached);
  ctx.restart();
  ctx.run_for(std::chrono::seconds(10));
  return out;
}

int64_t cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int lowat_of(Socket& s) {
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(s.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &v, &len);
  return v;
}

// Reads what is on the server socket now (to check nothing was consumed).
std::string drain(Socket& s) {
  std::string out;
  char b[4096];
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), b, sizeof b, MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(b, size_t(n));
  }
  return out;
}

TEST(Peek, AllAtOnceIsCompleteAndConsumesNothing) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  auto o = run(ctx, a, 100, 2000, {{0, std::string("hello\nrest")}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::complete);
  EXPECT_EQ(o.buf, "hello\nrest");
  EXPECT_EQ(o.judged, 1);
  EXPECT_EQ(drain(a.server), "hello\nrest") << "a peek must leave every byte on the socket";
}

TEST(Peek, WaitsForTheFirstBytes) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 3000, {{150, std::string("late\n")}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::complete);
  EXPECT_EQ(o.buf, "late\n");
  EXPECT_GE(o.took_ms, 100);
  EXPECT_LT(o.took_ms, 1500);
}

TEST(Peek, PrefixSplitAcrossDelayedWritesIsAssembled) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 5000,
               {{0, std::string("PR")}, {60, std::string("OX")}, {60, std::string("Y 1")},
                {200, std::string("\nafter")}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::complete);
  EXPECT_EQ(o.buf.substr(0, 10), "PROXY 1\naf");
  EXPECT_GE(o.took_ms, 300);
  EXPECT_LT(o.took_ms, 2000) << "each new piece must be seen promptly";
  // The judge is asked only when bytes were added, not on every wakeup:
  // the peeked bytes keep the socket readable, which must not spin.
  EXPECT_LE(o.judged, 4);
  EXPECT_EQ(lowat_of(a.server), 1) << "SO_RCVLOWAT must be put back for the reader";
  EXPECT_EQ(drain(a.server).substr(0, 8), "PROXY 1\n");
}

TEST(Peek, LargePrefixInDelayedPieces) {
  // ClientHello-sized (several TLS records): each piece raises SO_RCVLOWAT.
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto judge = [](std::string_view in) {
    return in.size() >= 21000 ? PeekVerdict::complete : PeekVerdict::need_more;
  };
  auto o = run(ctx, a, 16384 + 5 * 1024 + 512, 5000,
               {{0, std::string(7000, 'a')}, {60, std::string(7000, 'b')}, {60, std::string(7000, 'c')}},
               judge);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::complete);
  EXPECT_EQ(o.buf.size(), 21000u);
  EXPECT_LE(o.judged, 3 + 2);   // once per arrival (a piece may come in two segments)
  EXPECT_LT(o.took_ms, 2000);
  EXPECT_EQ(lowat_of(a.server), 1);
}

TEST(Peek, DeadlineEndsAPartialPrefix) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  const int64_t cpu0 = cpu_us();
  auto o = run(ctx, a, 100, 300, {{0, std::string("partial")}});
  const int64_t cpu = cpu_us() - cpu0;
  ASSERT_TRUE(o.result);
  // The peeked bytes keep the socket readable; waiting on plain readiness
  // would spin for the whole 300 ms.
  EXPECT_LT(cpu, 60000) << "waiting after a partial prefix must not spin";
  EXPECT_EQ(*o.result, PeekResult::timeout);
  EXPECT_EQ(o.buf, "partial");
  EXPECT_EQ(o.judged, 1);
  EXPECT_GE(o.took_ms, 250);
  EXPECT_LT(o.took_ms, 1500);
  EXPECT_EQ(lowat_of(a.server), 1);
}

TEST(Peek, DeadlineWithNothingSent) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 200, {});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::timeout);
  EXPECT_EQ(o.buf, "");
  EXPECT_EQ(o.judged, 0);
  EXPECT_GE(o.took_ms, 150);
  EXPECT_LT(o.took_ms, 1500);
}

TEST(Peek, MaxBytesWithoutAVerdictIsTheLimit) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 50, 3000, {{0, std::string(200, 'x')}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::limit);
  EXPECT_EQ(o.buf.size(), 50u);
  EXPECT_LT(o.took_ms, 1000);
}

TEST(Peek, MaxBytesReachedAcrossWrites) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 50, 3000, {{0, std::string(30, 'x')}, {50, std::string(30, 'y')}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::limit);
  EXPECT_EQ(o.buf, std::string(30, 'x') + std::string(20, 'y'));
}

TEST(Peek, EofBeforeAnyByte) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 3000, {{50, std::nullopt}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::eof);
  EXPECT_LT(o.took_ms, 1000);
}

TEST(Peek, EofAfterAPartialPrefixIsSeenBeforeTheDeadline) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 5000, {{0, std::string("part")}, {80, std::nullopt}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::eof);
  EXPECT_EQ(o.buf, "part");
  EXPECT_LT(o.took_ms, 1000);
}

TEST(Peek, GarbageIsInvalidAtOnce) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 3000, {{0, std::string("ab!cd")}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::invalid);
  EXPECT_EQ(o.buf, "ab!cd");
}

TEST(Peek, GarbageInALaterPieceIsInvalid) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  auto o = run(ctx, a, 100, 3000, {{0, std::string("abc")}, {50, std::string("!")}});
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, PeekResult::invalid);
  EXPECT_EQ(o.buf, "abc!");
  EXPECT_LT(o.took_ms, 1000);
}

TEST(Peek, ResetIsAnErrorOrEof) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  asio::write(a.client, asio::buffer(std::string("ab")));
  std::string buf;
  std::optional<PeekResult> result;
  asio::steady_timer t(ctx, std::chrono::milliseconds(50));
  t.async_wait([&](error_code) {
    ::linger l{1, 0};   // close with RST
    ::setsockopt(a.client.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    a.client.close();
  });
  asio::co_spawn(
      ctx.get_executor(),
      [&]() -> awaitable<void> {
        result = co_await peek_prefix(a.server, 100, now_ms() + 3000, line_judge, buf);
      },
      asio::detached);
  const int64_t start = now_ms();
  ctx.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(result);
  EXPECT_TRUE(*result == PeekResult::error || *result == PeekResult::eof) << to_string(*result);
  EXPECT_LT(now_ms() - start, 1500);
}

TEST(Peek, CancellingTheSocketEndsTheWait) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted);
  std::string buf;
  std::optional<PeekResult> result;
  asio::steady_timer t(ctx, std::chrono::milliseconds(50));
  t.async_wait([&](error_code) { a.server.cancel(); });
  asio::co_spawn(
      ctx.get_executor(),
      [&]() -> awaitable<void> {
        result = co_await peek_prefix(a.server, 100, now_ms() + 3000, line_judge, buf);
      },
      asio::detached);
  const int64_t start = now_ms();
  ctx.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, PeekResult::error);
  EXPECT_LT(now_ms() - start, 1500);
}

}  // namespace
}  // namespace gh::net
