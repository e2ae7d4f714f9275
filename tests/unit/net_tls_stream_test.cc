// net::Stream over TLS (net/tls_io.h): OpenSSL on the non-blocking socket,
// waits in Asio. Both ends here are our own Stream, one a server made from
// tls::ServerContext, the other a client from tls::ClientContext, over real
// loopback TCP.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/ssl/error.hpp>
#include <cstring>
#include <string>

#include "net/idle_set.h"
#include "net/stream.h"
#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls_test_pki.h"

namespace gh::net {
namespace {

using namespace tls::testpki;

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca = make_ca("test ca");
    auto pair = dir.write_pair("server", issue("server", {"DNS:server.test"}, false, &ca));
    config::Ssl ssl;
    ssl.cert_file = pair.first;
    ssl.key_file = pair.second;
    std::string err;
    server_ctx = tls::ServerContext::create(ssl, err);
    ASSERT_TRUE(server_ctx) << err;
    config::UpstreamTls up;
    up.ca_file = dir.write("ca.pem", cert_pem(ca.cert.get()));
    client_ctx = tls::ClientContext::create(up, err);
    ASSERT_TRUE(client_ctx) << err;
  }

  // A connected pair of non-blocking sockets, TLS not started.
  void connect_tcp(int sndbuf = 0) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    Socket c(ctx.get_executor()), s(ctx.get_executor());
    c.connect(acc.local_endpoint());
    acc.accept(s);
    for (Socket* x : {&c, &s}) {
      x->native_non_blocking(true);
      x->set_option(tcp::no_delay(true));
      if (sndbuf) {
        ::setsockopt(x->native_handle(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
      }
    }
    server.emplace(std::move(s), new_ssl(server_ctx->native_handle(), TlsRole::server));
    client.emplace(std::move(c));
    SslHandle cs = new_ssl(client_ctx->native_handle(), TlsRole::client);
    ASSERT_TRUE(client_ctx->prepare(cs.get(), "server.test", 443));
    ASSERT_TRUE(client->start_tls(std::move(cs)));
    ASSERT_TRUE(server->is_tls());
  }

  void handshake_both() {
    error_code sec = asio::error::would_block, cec = asio::error::would_block;
    spawn([&]() -> awaitable<void> { sec = co_await server->handshake(); });
    spawn([&]() -> awaitable<void> { cec = co_await client->handshake(); });
    run();
    ASSERT_FALSE(sec) << sec.message();
    ASSERT_FALSE(cec) << cec.message();
    ASSERT_TRUE(server->handshake_done());
    ASSERT_TRUE(client->handshake_done());
  }

  // The callable overload: co_spawn keeps the lambda (and what it
  // captures by reference) alive while its coroutine runs.
  template <class F>
  void spawn(F f) {
    asio::co_spawn(ctx, std::move(f), asio::detached);
  }
  void run() {
    ctx.restart();
    ctx.run();
  }
  // For when something keeps the context busy for ever (an IdleSet).
  template <class Pred>
  void run_until(Pred done) {
    ctx.restart();
    for (int i = 0; i < 500 && !done(); ++i) ctx.run_for(std::chrono::milliseconds(10));
  }

  // Reads exactly `n` bytes from `st` (in a coroutine).
  static awaitable<std::string> read_n(Stream& st, size_t n, error_code& ec) {
    std::string out;
    std::vector<char> buf(70000);
    while (out.size() < n) {
      auto [e, k] = co_await st.read_some(asio::buffer(buf.data(), std::min(buf.size(), n - out.size())));
      if (e) {
        ec = e;
        break;
      }
      out.append(buf.data(), k);
    }
    co_return out;
  }

  TempDir dir;
  Issued ca;
  std::shared_ptr<tls::ServerContext> server_ctx;
  std::shared_ptr<tls::ClientContext> client_ctx;
  asio::io_context ctx;
  std::optional<Stream> server, client;
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 251);
  return s;
}

TEST_F(TlsStreamTest, HandshakeNegotiatesHttp11AndVerifiesTheServer) {
  connect_tcp();
  handshake_both();
  EXPECT_EQ(tls::ServerContext::alpn_selected(client->ssl()), "http/1.1");
  EXPECT_EQ(SSL_get_verify_result(client->ssl()), X509_V_OK);
  EXPECT_EQ(tls::ServerContext::server_name(server->ssl()), "server.test");
}

TEST_F(TlsStreamTest, ABadCertificateFailsTheClientHandshakeWithTheReason) {
  connect_tcp();
  // The client expects another name.
  SSL_set1_host(client->ssl(), "other.test");
  error_code sec, cec;
  spawn([&]() -> awaitable<void> { sec = co_await server->handshake(); });
  spawn([&]() -> awaitable<void> { cec = co_await client->handshake(); });
  run();
  EXPECT_TRUE(cec);
  EXPECT_EQ(tls::ClientContext::verify_error(client->ssl()), "hostname mismatch");
  EXPECT_TRUE(sec);   // the server got the client's alert
}

TEST_F(TlsStreamTest, GatheredAndLargeWritesArriveWhole) {
  connect_tcp();
  handshake_both();
  // A head, a chunk-size line, a 40 KB body, a CRLF, and a few empty pieces.
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string line = "9c40\r\n", body = pattern(40000, 'a'), crlf = "\r\n";
  std::array<asio::const_buffer, 6> bufs{asio::buffer(head), asio::const_buffer(),
                                         asio::buffer(line), asio::buffer(body),
                                         asio::buffer(crlf), asio::const_buffer()};
  const std::string all = head + line + body + crlf;
  error_code wec, rec;
  size_t wrote = 0;
  std::string got;
  spawn([&]() -> awaitable<void> {
    auto [e, n] = co_await server->write_all(bufs);
    wec = e;
    wrote = n;
  });
  spawn([&]() -> awaitable<void> { got = co_await read_n(*client, all.size(), rec); });
  run();
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_FALSE(rec) << rec.message();
  EXPECT_EQ(wrote, all.size());
  EXPECT_TRUE(got == all);
}

// Segments the socket has received (linux/tcp.h's tcpi_segs_in, at byte 140
// of struct tcp_info; glibc's copy of the struct stops before it).
uint32_t segments_in(int fd) {
  unsigned char info[256] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) != 0 || len < 144) return 0;
  uint32_t v;
  std::memcpy(&v, info + 140, sizeof v);
  return v;
}

TEST_F(TlsStreamTest, TheRecordsOfOneWriteLeaveTogetherAndTheLastIsNotHeld) {
  // One write of three full records: all but the last go with MSG_MORE
  // (tls_io.cc), so loopback (MSS about 64 KiB) carries them in two
  // segments rather than three (not one: the kernel pushes once half the
  // peer's largest window is unsent), and the last is not held back: the
  // reader gets every byte without anything written after it.
  connect_tcp();
  handshake_both();
  const std::string body = pattern(48 * 1024, 'm');
  // The first writes open the receive window; the last one is counted.
  for (int round = 0; round < 4; ++round) {
    const uint32_t before = segments_in(client->socket().native_handle());
    error_code wec, rec;
    std::string got;
    spawn([&]() -> awaitable<void> { wec = std::get<0>(co_await server->write_all(asio::buffer(body))); });
    spawn([&]() -> awaitable<void> { got = co_await read_n(*client, body.size(), rec); });
    run();
    ASSERT_FALSE(wec || rec) << wec.message() << rec.message();
    ASSERT_TRUE(got == body);
    const uint32_t segments = segments_in(client->socket().native_handle()) - before;
    if (round == 3) {
      EXPECT_GE(segments, 1u);
      EXPECT_LE(segments, 2u);   // 3 with a segment per record
    }
  }
}

TEST_F(TlsStreamTest, BothDirectionsAtOnceThroughFullSocketBuffers) {
  // Small socket buffers: writes must wait (WANT_WRITE) and be retried while
  // the same stream is read by another coroutine, as in a tunnel.
  connect_tcp(4096);
  handshake_both();
  const std::string up = pattern(600000, 'u'), down = pattern(700000, 'd');
  error_code e1, e2, e3, e4;
  std::string got_up, got_down;
  spawn([&]() -> awaitable<void> { e1 = std::get<0>(co_await client->write_all(asio::buffer(up))); });
  spawn([&]() -> awaitable<void> { e2 = std::get<0>(co_await server->write_all(asio::buffer(down))); });
  spawn([&]() -> awaitable<void> { got_up = co_await read_n(*server, up.size(), e3); });
  spawn([&]() -> awaitable<void> { got_down = co_await read_n(*client, down.size(), e4); });
  run();
  EXPECT_FALSE(e1 || e2 || e3 || e4) << e1.message() << e2.message() << e3.message() << e4.message();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(TlsStreamTest, QuietOnlyWhenOpenSslHoldsNothing) {
  connect_tcp();
  handshake_both();
  EXPECT_TRUE(server->quiet());
  std::string msg = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  spawn([&]() -> awaitable<void> { co_await client->write_all(asio::buffer(msg)); });
  run();
  // A read smaller than the record leaves decrypted bytes in OpenSSL, which
  // the socket no longer shows: not quiet, and not readable either.
  char small[10];
  size_t n = 0;
  spawn([&]() -> awaitable<void> { n = std::get<1>(co_await server->read_some(asio::buffer(small))); });
  run();
  EXPECT_EQ(n, sizeof small);
  EXPECT_FALSE(server->quiet());
  char c;
  EXPECT_LT(::recv(server->socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT), 0);
  error_code ec;
  std::string rest;
  spawn([&]() -> awaitable<void> { rest = co_await read_n(*server, msg.size() - n, ec); });
  run();
  EXPECT_EQ(std::string(small, n) + rest, msg);
  EXPECT_TRUE(server->quiet());
}

TEST_F(TlsStreamTest, CloseNotifyIsEofAndABareCloseIsTruncation) {
  connect_tcp();
  handshake_both();
  SSL_shutdown(client->ssl());   // close_notify
  error_code ec;
  char buf[16];
  spawn([&]() -> awaitable<void> { ec = std::get<0>(co_await server->read_some(asio::buffer(buf))); });
  run();
  EXPECT_EQ(ec, asio::error::eof);

  connect_tcp();
  handshake_both();
  client->shutdown_send();   // FIN without close_notify
  spawn([&]() -> awaitable<void> { ec = std::get<0>(co_await server->read_some(asio::buffer(buf))); });
  run();
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
}

TEST_F(TlsStreamTest, CancelEndsAWaitingReadAndTheConnectionGoesOn) {
  connect_tcp();
  handshake_both();
  error_code ec;
  char buf[16];
  spawn([&]() -> awaitable<void> { ec = std::get<0>(co_await server->read_some(asio::buffer(buf))); });
  ctx.restart();
  ctx.poll();   // the read is waiting for the socket now
  server->cancel();
  run();
  EXPECT_EQ(ec, asio::error::operation_aborted);
  // A later read is not affected by the earlier cancel.
  ec = {};
  spawn([&]() -> awaitable<void> { co_await client->write_all(asio::buffer("ping", 4)); });
  std::string got;
  spawn([&]() -> awaitable<void> { got = co_await read_n(*server, 4, ec); });
  run();
  EXPECT_FALSE(ec);
  EXPECT_EQ(got, "ping");
}

TEST_F(TlsStreamTest, AWaitingReadIntoABufferKeepsOnlyItsBytes) {
  connect_tcp();
  handshake_both();
  core::Buffer buf;
  std::string half = "GET / HTTP/1.1\r\nHo";
  spawn([&]() -> awaitable<void> { co_await client->write_all(asio::buffer(half)); });
  size_t n = 0;
  spawn([&]() -> awaitable<void> { n = std::get<1>(co_await server->read_some_into(buf, 2048, 8192)); });
  run();
  ASSERT_EQ(n, half.size());
  buf.commit(n);
  EXPECT_EQ(buf.capacity(), core::Buffer::kBlock);
  // The next read waits: meanwhile the buffer holds just the half head.
  error_code ec;
  spawn([&]() -> awaitable<void> {
    auto [e, k] = co_await server->read_some_into(buf, 2048, 8192);
    ec = e;
    n = k;
  });
  ctx.restart();
  ctx.poll();
  EXPECT_EQ(buf.capacity(), half.size());
  EXPECT_EQ(buf.view(), half);
  std::string more = "st: a\r\n\r\n";
  spawn([&]() -> awaitable<void> { co_await client->write_all(asio::buffer(more)); });
  run();
  EXPECT_FALSE(ec);
  buf.commit(n);
  EXPECT_EQ(buf.view(), half + more);
}

TEST_F(TlsStreamTest, AConnectionMovedThroughTheIdleSetKeepsItsTlsState) {
  connect_tcp();
  handshake_both();
  std::optional<Stream> woken;
  IdleSet set(ctx, [&](Socket s, IdleConn c) {
    woken.emplace(std::move(s));
    woken->restore_ssl(std::move(c.ssl));
  });
  IdleConn c;
  c.ssl = server->take_ssl();
  ASSERT_TRUE(set.hold(server->socket(), std::move(c)));
  EXPECT_EQ(set.size(), 1u);
  spawn([&]() -> awaitable<void> { co_await client->write_all(asio::buffer("hello", 5)); });
  run_until([&] { return woken.has_value(); });
  ASSERT_TRUE(woken);
  ASSERT_TRUE(woken->is_tls());
  error_code ec;
  std::string got;
  spawn([&]() -> awaitable<void> { got = co_await read_n(*woken, 5, ec); });
  spawn([&]() -> awaitable<void> { co_await woken->write_all(asio::buffer("world", 5)); });
  std::string back;
  error_code ec2;
  spawn([&]() -> awaitable<void> { back = co_await read_n(*client, 5, ec2); });
  run_until([&] { return got.size() == 5 && back.size() == 5; });
  EXPECT_FALSE(ec);
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(back, "world");
}

}  // namespace
}  // namespace gh::net
