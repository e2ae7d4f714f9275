#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "net/adopt.h"
#include "net/stream.h"

namespace gh::net {
namespace {

int nodelay_of(Socket& s) {
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
  return v;
}

// Runs a write to completion on ctx.
bool write_now(asio::io_context& ctx, Stream& st, std::string_view data) {
  bool ok = false;
  asio::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        auto [ec, n] = co_await st.write_all(asio::buffer(data.data(), data.size()));
        ok = !ec && n == data.size();
      },
      asio::detached);
  ctx.restart();
  ctx.run();
  return ok;
}

// A connection accepted with accept4(SOCK_NONBLOCK) and adopted, as the
// server's accept loop does.
struct Accepted {
  explicit Accepted(asio::io_context& ctx) : client(ctx), server(ctx.get_executor()) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acc.local_endpoint());
    sockaddr_in6 peer{};
    socklen_t len = sizeof peer;
    fd = ::accept4(acc.native_handle(), reinterpret_cast<sockaddr*>(&peer), &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    adopted = adopt_nonblocking(server, fd, false, ec);
  }
  error_code ec;
  bool adopted = false;
  tcp::socket client;
  Socket server;
  int fd = -1;
};

TEST(Stream, NodelayIsSetOnlyFromTheSecondWrite) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  Stream st(std::move(a.server));
  st.nodelay_from_second_write();
  EXPECT_EQ(nodelay_of(st.socket()), 0);
  ASSERT_TRUE(write_now(ctx, st, "first"));
  EXPECT_EQ(nodelay_of(st.socket()), 0) << "a connection answered in one write needs no setsockopt";
  ASSERT_TRUE(write_now(ctx, st, "second"));
  EXPECT_EQ(nodelay_of(st.socket()), 1);
  char buf[32];
  size_t n = asio::read(a.client, asio::buffer(buf, 11));
  EXPECT_EQ(std::string(buf, n), "firstsecond");
}

TEST(Stream, NodelayPendingSurvivesAMoveThroughARawDescriptor) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  error_code ec;
  Stream st(std::move(a.server));
  st.nodelay_from_second_write();
  ASSERT_TRUE(write_now(ctx, st, "one"));
  uint8_t pending = st.nodelay_pending();
  // As the idle set does: out of Asio, back in, state restored.
  int fd = st.socket().release(ec);
  ASSERT_FALSE(ec);
  Socket back(ctx.get_executor());
  ASSERT_TRUE(adopt_nonblocking(back, fd, false, ec));
  Stream st2(std::move(back));
  st2.restore_nodelay_pending(pending);
  ASSERT_TRUE(write_now(ctx, st2, "two"));
  EXPECT_EQ(nodelay_of(st2.socket()), 1);
}

TEST(Stream, ByDefaultNodelayIsLeftAlone) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  Stream st(std::move(a.server));
  ASSERT_TRUE(write_now(ctx, st, "a"));
  ASSERT_TRUE(write_now(ctx, st, "b"));
  EXPECT_EQ(nodelay_of(st.socket()), 0);
}

TEST(Adopt, AnAdoptedSocketReadsWritesAndClosesNormally) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  error_code ec;
  asio::write(a.client, asio::buffer("ping", 4));
  std::string got;
  asio::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        char buf[8];
        auto [rec, n] = co_await a.server.async_read_some(asio::buffer(buf), nothrow);
        if (!rec) got.assign(buf, n);
        co_await asio::async_write(a.server, asio::buffer("pong", 4), nothrow);
      },
      asio::detached);
  ctx.run();
  EXPECT_EQ(got, "ping");
  char buf[4];
  asio::read(a.client, asio::buffer(buf));
  EXPECT_EQ(std::string(buf, 4), "pong");
  int fd = a.server.native_handle();
  a.server.close(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "closed";
  char c;
  EXPECT_EQ(asio::read(a.client, asio::buffer(&c, 1), ec), 0u);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(Adopt, TheDescriptorStaysNonBlocking) {
  asio::io_context ctx;
  Accepted a(ctx);
  ASSERT_TRUE(a.adopted) << a.ec.message();
  error_code ec;
  EXPECT_TRUE(::fcntl(a.fd, F_GETFL) & O_NONBLOCK);
}

}  // namespace
}  // namespace gh::net
