// serve_stream end to end on loopback: bytes both ways byte for byte, the
// half-close passed on, the PROXY header and pre-read bytes first, and the
// same through the copy loop that replaces splice(2) where it is refused;
// copy first, splice past kSpliceAfterBytes (a short connection takes no pipe).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "net/server.h"
#include "stream/relay.h"
#include "stream/stream_proxy.h"

namespace gh::stream {
namespace {

using net::tcp;

// A blocking echo backend on 127.0.0.1 for one connection: keeps what it
// got, sends it back, and on EOF shuts down its write side.
struct EchoBackend {
  EchoBackend() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this] {
      int c = ::accept(fd, nullptr, nullptr);
      char buf[65536];
      for (;;) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, size_t(n));
        for (ssize_t off = 0; off < n;) off += ::send(c, buf + off, size_t(n - off), MSG_NOSIGNAL);
      }
      ::shutdown(c, SHUT_WR);
      ::close(c);
    });
  }
  ~EchoBackend() {
    wait();
    ::close(fd);
  }
  // The connection is over (then `got` is complete).
  void wait() {
    if (th.joinable()) th.join();
  }
  int fd = -1;
  uint16_t port = 0;
  std::string got;
  std::thread th;
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131) ^ (i >> 9));
  return s;
}

struct Result {
  StreamRecord rec;
  std::string end;
  std::string echoed;
  bool finished = false;
  size_t spare_pipes = 0;   // the worker's pipe cache afterwards
};

// One connection through serve_stream: the client sends `payload`, shuts
// down its write side and reads to EOF.
Result relay_once(bool splice, const std::string& payload, config::ProxyProtocolOut pp,
                  const std::string& preread, uint16_t backend_port) {
  ::signal(SIGPIPE, SIG_IGN);   // as gatehouse does (app/control.cc): splice has no MSG_NOSIGNAL
  net::Worker w(0);
  upstream::Resolver resolver(w.ctx);
  StreamWorker sw(w, resolver);
  sw.splice = splice;
  config::StreamRoute conf;
  conf.proxy_protocol = pp;
  conf.connect_timeout = std::chrono::seconds(2);
  conf.idle_timeout = std::chrono::seconds(10);
  upstream::Backend backend;
  backend.host = "127.0.0.1";
  backend.port = backend_port;
  backend.name = "127.0.0.1:" + std::to_string(backend_port);
  auto rt = std::make_shared<StreamRuntime>();
  rt->conf = &conf;
  rt->backends = {&backend};
  rt->name = "test";
  rt->id = upstream::Backend::next_id();

  Result res;
  sw.on_finish = [&](const StreamRecord& r) {
    res.rec = r;
    res.end = std::string(r.end);
    res.finished = true;
  };
  tcp::acceptor acc(w.ctx, tcp::endpoint(net::asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t front = acc.local_endpoint().port();
  net::asio::co_spawn(
      w.ctx,
      [&]() -> net::awaitable<void> {
        net::Socket s(w.ctx);
        auto [ec] = co_await acc.async_accept(s, net::nothrow);
        if (ec) co_return;
        tcp::endpoint peer = s.remote_endpoint(), local = s.local_endpoint();
        net::ConnectionSlot slot;   // named: no temporary with a destructor in a co_await
        co_await serve_stream(sw, rt, std::move(s), peer, local, std::move(slot), preread);
      },
      net::asio::detached);

  std::thread client([&] {
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(front);
    if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    std::thread sender([&] {
      for (size_t off = 0; off < payload.size();) {
        ssize_t n = ::send(c, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += size_t(n);
      }
      ::shutdown(c, SHUT_WR);
    });
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      res.echoed.append(buf, size_t(n));
    }
    sender.join();
    ::close(c);
  });
  for (int i = 0; i < 1000 && !res.finished; ++i) w.ctx.run_for(std::chrono::milliseconds(10));
  client.join();
  res.spare_pipes = sw.pipes.spare();
  return res;
}

class RelayTest : public ::testing::TestWithParam<bool> {};

TEST_P(RelayTest, BytesBothWaysAndTheHalfClose) {
  EchoBackend be;
  const std::string payload = pattern(8 << 20);
  Result r = relay_once(GetParam(), payload, config::ProxyProtocolOut::none, "", be.port);
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.end, "closed");
  EXPECT_TRUE(r.echoed == payload) << r.echoed.size() << " bytes back of " << payload.size();
  EXPECT_EQ(r.rec.bytes_up, payload.size());
  EXPECT_EQ(r.rec.bytes_down, payload.size());
  EXPECT_EQ(r.rec.attempts, 1u);
  ASSERT_NE(r.rec.backend, nullptr);
}

TEST_P(RelayTest, ProxyHeaderAndPrereadGoFirst) {
  EchoBackend be;
  Result r = relay_once(GetParam(), "body", config::ProxyProtocolOut::v1, "pre-", be.port);
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.end, "closed");
  be.wait();
  const std::string want_prefix = "PROXY TCP4 127.0.0.1 127.0.0.1 ";
  ASSERT_GE(be.got.size(), want_prefix.size());
  EXPECT_EQ(be.got.substr(0, want_prefix.size()), want_prefix);
  size_t crlf = be.got.find("\r\n");
  ASSERT_NE(crlf, std::string::npos);
  EXPECT_EQ(be.got.substr(crlf + 2), "pre-body");
  EXPECT_EQ(r.rec.bytes_up, 8u);   // pre-read and payload; the header is not counted
}

// A short connection stays in the copying phase: no pipe is ever made.
TEST_P(RelayTest, ShortConnectionTakesNoPipe) {
  EchoBackend be;
  const std::string payload = pattern(20000);   // below kSpliceAfterBytes both ways
  Result r = relay_once(GetParam(), payload, config::ProxyProtocolOut::none, "", be.port);
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.end, "closed");
  EXPECT_TRUE(r.echoed == payload);
  EXPECT_EQ(r.spare_pipes, 0u);
}

// Past kSpliceAfterBytes each direction splices (with splice on): its pipe
// comes back empty to the cache.
TEST_P(RelayTest, LongConnectionSplicesPastTheThreshold) {
  EchoBackend be;
  const std::string payload = pattern(600 * 1024 + 12345);   // past kSpliceAfterBytes
  Result r = relay_once(GetParam(), payload, config::ProxyProtocolOut::none, "", be.port);
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.end, "closed");
  EXPECT_TRUE(r.echoed == payload);
  if (GetParam()) EXPECT_GE(r.spare_pipes, 1u);
  else EXPECT_EQ(r.spare_pipes, 0u);
}

TEST(RelayConnect, RefusedBackendIsNoBackend) {
  // A port nothing listens on: bound, never listened, closed.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  Result r = relay_once(true, "x", config::ProxyProtocolOut::none, "", ntohs(a.sin_port));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.end, "no_backend");
  EXPECT_EQ(r.rec.attempts, 1u);
  EXPECT_EQ(r.echoed, "");
}

TEST(AfterCopy, ShortReadWaitsFullReadReadsAgainThresholdSplices) {
  EXPECT_EQ(after_copy(100, 32768, 100, kSpliceAfterBytes), CopyNext::wait);
  EXPECT_EQ(after_copy(32768, 32768, 32768, kSpliceAfterBytes), CopyNext::read_again);
  EXPECT_EQ(after_copy(10, 32768, kSpliceAfterBytes, kSpliceAfterBytes), CopyNext::splice);
  EXPECT_EQ(after_copy(32768, 32768, kSpliceAfterBytes + 1, kSpliceAfterBytes), CopyNext::splice);
  // 0: never splice (splice refused, or off)
  EXPECT_EQ(after_copy(32768, 32768, uint64_t(1) << 40, 0), CopyNext::read_again);
  EXPECT_EQ(after_copy(1, 32768, uint64_t(1) << 40, 0), CopyNext::wait);
}

INSTANTIATE_TEST_SUITE_P(SpliceAndCopy, RelayTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "splice" : "copy"; });

}  // namespace
}  // namespace gh::stream
