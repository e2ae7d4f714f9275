// relay_body() between in-memory sources and sinks: the order of takes,
// writes and fills, the byte limit, heads held for the first write.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <deque>
#include <string>
#include <vector>

#include "http/body.h"

namespace gh::http {
namespace {

// Hands out one queued arrival per fill(); a batch holds at most `per_take` pieces.
class ScriptedSource final : public BodySource {
 public:
  std::deque<std::string> arrivals;   // what each fill() delivers
  std::string buf;                    // delivered, not yet consumed
  bool end_after_arrivals = true;
  RelayStatus fail_with = RelayStatus::src_closed;
  size_t per_take = BodyBatch::kMaxPieces;
  size_t piece = 4;                   // bytes per piece
  int fills = 0;

  RelayStatus take(BodyBatch& b) override {
    size_t at = 0;
    while (at < buf.size() && b.n < per_take) {
      size_t n = std::min(piece, buf.size() - at);
      b.add(std::string_view(buf).substr(at, n));
      at += n;
    }
    b.consumed = at;
    b.more = at < buf.size();
    b.end = !b.more && arrivals.empty() && end_after_arrivals;
    return RelayStatus::done;
  }
  void consume(const BodyBatch& b) override { buf.erase(0, b.consumed); }
  Awaitable<RelayStatus> fill() override {
    ++fills;
    if (arrivals.empty()) co_return fail_with;
    buf += arrivals.front();
    arrivals.pop_front();
    co_return RelayStatus::done;
  }
  void cancel() override {}
  const char* detail() const override { return "scripted"; }
};

class RecordingSink final : public BodySink {
 public:
  std::string head;
  std::string data;
  std::vector<size_t> write_sizes;    // payload bytes per write
  bool ended = false;
  bool fail = false;
  Awaitable<bool> write(const BodyBatch& b) override {
    if (fail) co_return false;
    data += head_out;
    head_out.clear();
    for (size_t i = 0; i < b.n; ++i) data += b.pieces[i];
    write_sizes.push_back(b.payload);
    if (b.end) ended = true;
    co_return true;
  }
  bool holds_head() const override { return !head_out.empty(); }
  std::string head_out;
};

RelayOutcome run_relay(BodySource& src, BodySink& dst, uint64_t max) {
  boost::asio::io_context ctx;
  RelayOutcome out;
  boost::asio::co_spawn(
      ctx, [&]() -> Awaitable<void> { out = co_await relay_body(src, dst, max); },
      boost::asio::detached);
  ctx.run();
  return out;
}

TEST(RelayBody, MovesEveryArrivalInOrderAndEnds) {
  ScriptedSource src;
  src.arrivals = {"hello ", "wor", "ld"};
  RecordingSink dst;
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::done);
  EXPECT_EQ(o.bytes, 11u);
  EXPECT_EQ(dst.data, "hello world");
  EXPECT_TRUE(dst.ended);
}

TEST(RelayBody, AFullBatchIsFollowedByAnotherTakeBeforeAnyFill) {
  ScriptedSource src;
  src.per_take = 2;
  src.piece = 1;
  src.buf = "abcdef";   // already received: three batches, no waiting
  src.arrivals.clear();
  RecordingSink dst;
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::done);
  EXPECT_EQ(dst.data, "abcdef");
  EXPECT_EQ(src.fills, 0);
  EXPECT_EQ(dst.write_sizes, (std::vector<size_t>{2, 2, 2}));
}

TEST(RelayBody, AHeldHeadGoesOutBeforeTheFirstByteArrives) {
  ScriptedSource src;
  src.arrivals = {"body"};
  RecordingSink dst;
  dst.head_out = "HEAD|";
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::done);
  EXPECT_EQ(dst.data, "HEAD|body");
  ASSERT_GE(dst.write_sizes.size(), 2u);
  EXPECT_EQ(dst.write_sizes[0], 0u);   // the head alone, before any fill
}

TEST(RelayBody, NoWriteWithoutPayloadOrHead) {
  ScriptedSource src;
  src.arrivals = {"", "", "x"};
  RecordingSink dst;
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::done);
  EXPECT_EQ(dst.write_sizes, (std::vector<size_t>{1}));
}

TEST(RelayBody, OverTheLimitNothingMoreIsWritten) {
  ScriptedSource src;
  src.arrivals = {"12345", "67890"};
  RecordingSink dst;
  RelayOutcome o = run_relay(src, dst, 7);
  EXPECT_EQ(o.status, RelayStatus::too_large);
  EXPECT_EQ(dst.data, "12345");
  EXPECT_EQ(o.bytes, 5u);
}

TEST(RelayBody, ASourceFailureIsReportedWithItsDetail) {
  ScriptedSource src;
  src.arrivals = {"ab"};
  src.end_after_arrivals = false;
  src.fail_with = RelayStatus::src_timeout;
  RecordingSink dst;
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::src_timeout);
  EXPECT_STREQ(o.detail, "scripted");
  EXPECT_EQ(dst.data, "ab");
  EXPECT_FALSE(dst.ended);
}

TEST(RelayBody, ASinkFailureStopsTheRelay) {
  ScriptedSource src;
  src.arrivals = {"ab", "cd"};
  RecordingSink dst;
  dst.fail = true;
  RelayOutcome o = run_relay(src, dst, 0);
  EXPECT_EQ(o.status, RelayStatus::dst_error);
  EXPECT_TRUE(o.wrote);
  EXPECT_EQ(o.bytes, 0u);
}

}  // namespace
}  // namespace gh::http
