#include "proxy/body_http1.h"

#include <array>
#include <cstdio>
#include <span>

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

namespace {

constexpr size_t kReadChunk = 64 * 1024;

// The buffers of one gathered write (a head, three per chunk, the last chunk
// with its trailers), lent per write from a per-thread cache: in write()'s
// coroutine frame they would make it too large for Asio's frame cache (a
// malloc per batch), and in every sink they would cost each idle session
// 1.5 KiB.
struct Gather {
  std::array<asio::const_buffer, 1 + 3 * http::BodyBatch::kMaxPieces + 3> bufs;
  std::array<std::array<char, 20>, http::BodyBatch::kMaxPieces> size_lines;
};

class GatherLease {
 public:
  GatherLease() {
    auto& c = cache();
    if (c.n) g_ = c.items[--c.n];
    else g_ = new Gather;
  }
  ~GatherLease() {
    auto& c = cache();
    if (c.n < Cache::kMax) c.items[c.n++] = g_;
    else delete g_;
  }
  GatherLease(const GatherLease&) = delete;
  GatherLease& operator=(const GatherLease&) = delete;
  Gather& operator*() { return *g_; }

 private:
  struct Cache {
    static constexpr size_t kMax = 64;   // writes in flight at once on one worker, kept
    Gather* items[kMax];
    size_t n = 0;
    ~Cache() {
      while (n) delete items[--n];
    }
  };
  static Cache& cache() {
    thread_local Cache c;
    return c;
  }
  Gather* g_;
};

}  // namespace

Http1BodySource::Http1BodySource(Stream& stream, core::Buffer& buf, Deadline& deadline,
                                 std::chrono::milliseconds timeout, BodyKind kind, uint64_t length,
                                 http1::ChunkedDecoder& dec, size_t skip)
    : stream_(stream),
      buf_(buf),
      dl_(deadline),
      timeout_(timeout),
      kind_(kind),
      remaining_(kind == BodyKind::content_length ? length : 0),
      dec_(dec),
      skip_(skip),
      ended_(kind == BodyKind::none || (kind == BodyKind::content_length && length == 0)) {}

http::RelayStatus Http1BodySource::take(http::BodyBatch& b) {
  if (!ended_) {
    std::string_view avail = buf_.view().substr(skip_);
    switch (kind_) {
      case BodyKind::content_length: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail.size(), remaining_));
        b.add(avail.substr(0, n));
        b.consumed = n;
        remaining_ -= n;
        ended_ = remaining_ == 0;
        break;
      }
      case BodyKind::until_close:
        b.add(avail);
        b.consumed = avail.size();
        break;
      case BodyKind::chunked:
        while (b.consumed < avail.size()) {
          if (b.full()) {
            b.more = true;
            break;
          }
          auto step = dec_.next(avail.substr(b.consumed));
          if (step.error) {
            detail_ = step.detail;
            return http::RelayStatus::framing_error;
          }
          b.add(step.data);
          b.consumed += step.consumed;
          if (step.done) {
            ended_ = true;
            break;
          }
          if (step.consumed == 0) break;
        }
        break;
      case BodyKind::none:
        break;
    }
  }
  if (ended_) {
    b.end = true;
    b.more = false;
    if (kind_ == BodyKind::chunked) b.trailers = dec_.trailers();
  }
  return http::RelayStatus::done;
}

void Http1BodySource::consume(const http::BodyBatch& b) {
  buf_.consume(skip_ + b.consumed);
  skip_ = 0;
}

awaitable<http::RelayStatus> Http1BodySource::fill() {
  if (ended_) co_return http::RelayStatus::done;
  if (buf_.tail_room() < 4096) buf_.reserve_tail(kReadChunk);
  bool by_rate = false;
  const std::chrono::milliseconds wait = rate_.bound(timeout_, by_rate);
  dl_.clear_fired();
  dl_.expire_in(wait);
  const int64_t waited_from = rate_.active() ? now_ms() : 0;
  if (waiting) *waiting = true;
  auto [ec, n] = co_await stream_.read_some(asio::buffer(buf_.tail(), buf_.tail_room()));
  if (waiting) *waiting = false;
  if (ec || n == 0) {
    if (kind_ == BodyKind::until_close && ec == asio::error::eof) {
      ended_ = true;
      co_return http::RelayStatus::done;
    }
    if (dl_.fired()) {
      detail_ = by_rate ? "slower than the minimum rate" : "timed out";
      co_return by_rate ? http::RelayStatus::src_too_slow : http::RelayStatus::src_timeout;
    }
    detail_ = ec == asio::error::eof ? "closed" : "read failed";
    co_return ec == asio::error::eof ? http::RelayStatus::src_closed : http::RelayStatus::src_error;
  }
  buf_.commit(n);
  if (rate_.active()) rate_.arrived(n, now_ms() - waited_from);
  co_return http::RelayStatus::done;
}

awaitable<bool> Http1BodySink::write(const http::BodyBatch& b) {
  GatherLease lease;
  auto& bufs = (*lease).bufs;
  auto& size_lines = (*lease).size_lines;
  size_t n = 0;
  if (!head_.empty()) bufs[n++] = asio::buffer(head_.data(), head_.size());
  head_ = {};
  for (size_t i = 0; i < b.n; ++i) {
    std::string_view d = b.pieces[i];
    if (chunk_out_) {
      int len = std::snprintf(size_lines[i].data(), size_lines[i].size(), "%zx\r\n", d.size());
      bufs[n++] = asio::buffer(size_lines[i].data(), static_cast<size_t>(len));
      bufs[n++] = asio::buffer(d.data(), d.size());
      bufs[n++] = asio::buffer("\r\n", 2);
    } else {
      bufs[n++] = asio::buffer(d.data(), d.size());
    }
  }
  if (b.end && chunk_out_) {
    bufs[n++] = asio::buffer("0\r\n", 3);
    if (!b.trailers.empty()) bufs[n++] = asio::buffer(b.trailers.data(), b.trailers.size());
    bufs[n++] = asio::buffer("\r\n", 2);
  }
  if (n == 0) co_return true;
  dl_.expire_in(timeout_);
  auto [ec, written] = co_await stream_.write_all(std::span(bufs.data(), n));
  co_return !ec;
}

}  // namespace gh::proxy
