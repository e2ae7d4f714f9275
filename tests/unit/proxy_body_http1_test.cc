// HTTP/1 bodies over real loopback sockets: Http1BodySource removes the
// framing, Http1BodySink adds it, relay_body() joins them.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <string>

#include "net/deadlines.h"
#include "proxy/body_http1.h"

namespace gh::proxy {
namespace {

using namespace gh::net;
using http1::BodyKind;
using namespace std::chrono_literals;

// A connected pair: `peer` is a plain blocking-style socket the test drives,
// `ours` the non-blocking Stream the code under test uses.
struct Pair {
  explicit Pair(asio::io_context& ctx) : peer(ctx), ours(Socket(ctx.get_executor())) {
    tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acc.local_endpoint());
    acc.accept(ours.socket());
    ours.socket().non_blocking(true);
  }
  tcp::socket peer;
  Stream ours;
};

struct Http1Body : ::testing::Test {
  asio::io_context ctx;
  DeadlineList deadlines;
  Deadline src_dl{deadlines, [](void*) {}, nullptr};
  Deadline dst_dl{deadlines, [](void*) {}, nullptr};
  Pair in{ctx};     // bytes from in.peer arrive at in.ours (the source)
  Pair out{ctx};    // bytes written to out.ours arrive at out.peer (the sink)
  core::Buffer buf;
  http1::ChunkedDecoder dec;

  void send(std::string_view s) { asio::write(in.peer, asio::buffer(s.data(), s.size())); }
  // Everything out.peer got until the sink side closed.
  std::string received() {
    out.ours.shutdown_send();
    std::string got;
    boost::system::error_code ec;
    asio::read(out.peer, asio::dynamic_buffer(got), ec);
    return got;
  }
  http::RelayOutcome relay(BodyKind kind, uint64_t len, bool chunk_out, std::string_view head = {},
                           size_t skip = 0, uint64_t max = 0) {
    http::RelayOutcome o;
    Http1BodySource src(in.ours, buf, src_dl, 2000ms, kind, len, dec, skip);
    Http1BodySink sink(out.ours, dst_dl, 2000ms, chunk_out);
    sink.hold_head(head);
    asio::co_spawn(
        ctx, [&]() -> awaitable<void> { o = co_await http::relay_body(src, sink, max); },
        asio::detached);
    ctx.restart();
    ctx.run();
    return o;
  }
};

TEST_F(Http1Body, ContentLengthStopsAtItsLengthAndLeavesWhatFollows) {
  send("hello world");
  send("NEXT");
  http::RelayOutcome o = relay(BodyKind::content_length, 11, false);
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(o.bytes, 11u);
  EXPECT_EQ(received(), "hello world");
  // Bytes after the body (a pipelined request) stay in the buffer, if read.
  EXPECT_TRUE(buf.view().empty() || buf.view() == "NEXT");
}

TEST_F(Http1Body, HeadBytesBeforeTheBodyAreSkipped) {
  const std::string head = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
  buf.reserve_tail(head.size() + 3);
  std::memcpy(buf.tail(), head.data(), head.size());
  std::memcpy(buf.tail() + head.size(), "abc", 3);
  buf.commit(head.size() + 3);
  http::RelayOutcome o = relay(BodyKind::content_length, 3, false, {}, head.size());
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(received(), "abc");
  EXPECT_TRUE(buf.empty());
}

TEST_F(Http1Body, ChunkedIsDecodedToPayload) {
  send("3\r\nabc\r\n");
  send("2;ext=1\r\nde\r\n0\r\n\r\n");
  http::RelayOutcome o = relay(BodyKind::chunked, 0, false);
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(o.bytes, 5u);
  EXPECT_EQ(received(), "abcde");
}

TEST_F(Http1Body, ChunkedOutKeepsTrailersAndEndsWithTheLastChunk) {
  send("3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n");
  http::RelayOutcome o = relay(BodyKind::chunked, 0, true, "HEAD\r\n\r\n");
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(received(), "HEAD\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n");
}

TEST_F(Http1Body, ContentLengthGoesOutChunkedWhenAsked) {
  send("abcd");
  http::RelayOutcome o = relay(BodyKind::content_length, 4, true);
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(received(), "4\r\nabcd\r\n0\r\n\r\n");
}

TEST_F(Http1Body, UntilCloseEndsAtTheSourcesEof) {
  send("all of it");
  in.peer.shutdown(tcp::socket::shutdown_send);
  http::RelayOutcome o = relay(BodyKind::until_close, 0, false);
  EXPECT_EQ(o.status, http::RelayStatus::done);
  EXPECT_EQ(received(), "all of it");
}

TEST_F(Http1Body, AnEarlyCloseIsSrcClosed) {
  send("abc");
  in.peer.shutdown(tcp::socket::shutdown_send);
  http::RelayOutcome o = relay(BodyKind::content_length, 10, false);
  EXPECT_EQ(o.status, http::RelayStatus::src_closed);
  EXPECT_EQ(o.bytes, 3u);
}

TEST_F(Http1Body, BadChunkSizeIsAFramingError) {
  send("zz\r\nabc\r\n");
  http::RelayOutcome o = relay(BodyKind::chunked, 0, false);
  EXPECT_EQ(o.status, http::RelayStatus::framing_error);
  EXPECT_STRNE(o.detail, "");
}

TEST_F(Http1Body, TheByteLimitHolds) {
  send(std::string(100, 'x'));
  http::RelayOutcome o = relay(BodyKind::content_length, 100, false, {}, 0, 50);
  EXPECT_EQ(o.status, http::RelayStatus::too_large);
  EXPECT_EQ(o.bytes, 0u);
}

TEST_F(Http1Body, ManySmallChunksNeedSeveralBatches) {
  std::string coded, want;
  for (int i = 0; i < 100; ++i) {
    coded += "1\r\n";
    coded += char('a' + i % 26);
    coded += "\r\n";
    want += char('a' + i % 26);
  }
  coded += "0\r\n\r\n";
  send(coded);
  http::RelayOutcome o = relay(BodyKind::chunked, 0, true);
  EXPECT_EQ(o.status, http::RelayStatus::done);
  std::string got = received();
  std::string plain;
  // De-chunk what came out: every chunk is intact.
  http1::ChunkedDecoder d;
  std::string_view rest = got;
  for (;;) {
    auto st = d.next(rest);
    ASSERT_FALSE(st.error);
    plain += st.data;
    rest.remove_prefix(st.consumed);
    if (st.done || st.consumed == 0) break;
  }
  EXPECT_EQ(plain, want);
}

}  // namespace
}  // namespace gh::proxy
