#include "proxy/body_relay.h"

#include <array>
#include <cstdio>
#include <span>

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

namespace {

constexpr size_t kMaxBufs = 64;
constexpr size_t kReadChunk = 64 * 1024;

struct Batch {
  std::array<asio::const_buffer, kMaxBufs> bufs;
  std::array<std::array<char, 24>, kMaxBufs / 3> size_lines;
  size_t n = 0;
  size_t lines = 0;
  bool full() const { return n + 4 > kMaxBufs || lines + 1 >= size_lines.size(); }
  void add(std::string_view s) {
    if (!s.empty()) bufs[n++] = asio::buffer(s.data(), s.size());
  }
  void add_chunk(std::string_view data) {
    auto& line = size_lines[lines++];
    int len = std::snprintf(line.data(), line.size(), "%zx\r\n", data.size());
    bufs[n++] = asio::buffer(line.data(), len);
    bufs[n++] = asio::buffer(data.data(), data.size());
    bufs[n++] = asio::buffer("\r\n", 2);
  }
};

}  // namespace

awaitable<RelayOutcome> relay_body(RelayEnds e, BodyKind kind, uint64_t length, bool chunk_out,
                                   http1::ChunkedDecoder& dec, uint64_t max_bytes,
                                   std::string_view prefix) {
  RelayOutcome out;
  uint64_t remaining = kind == BodyKind::content_length ? length : 0;
  bool src_ended = kind == BodyKind::none || (kind == BodyKind::content_length && length == 0);
  std::string trailer_end;
  const bool rated = e.src_min_rate > 0;
  bool rate_on = rated && !e.min_rate_from_first_byte;
  int64_t credit_ms = kMinRateGraceMs;   // how long the source may still take
  for (;;) {
    Batch b;
    b.add(prefix);
    prefix = {};
    size_t consumed = 0;
    uint64_t payload = 0;
    bool finished = src_ended;
    bool need_input = true;   // false: a full batch left decodable bytes in buf
    std::string_view avail = e.buf.view();
    if (!finished) {
      switch (kind) {
        case BodyKind::content_length: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(avail.size(), remaining));
          if (take) {
            std::string_view d = avail.substr(0, take);
            if (chunk_out) b.add_chunk(d);
            else b.add(d);
          }
          consumed = take;
          payload = take;
          remaining -= take;
          finished = remaining == 0;
          break;
        }
        case BodyKind::until_close: {
          if (!avail.empty()) {
            if (chunk_out) b.add_chunk(avail);
            else b.add(avail);
          }
          consumed = avail.size();
          payload = avail.size();
          break;
        }
        case BodyKind::chunked: {
          for (;;) {
            if (b.full()) {
              need_input = consumed == avail.size();
              break;
            }
            if (consumed == avail.size()) break;
            auto step = dec.next(avail.substr(consumed));
            if (step.error) {
              out.status = RelayStatus::framing_error;
              out.detail = step.detail;
              co_return out;
            }
            if (!step.data.empty()) {
              if (chunk_out) b.add_chunk(step.data);
              else b.add(step.data);
              payload += step.data.size();
            }
            consumed += step.consumed;
            if (step.done) {
              finished = true;
              break;
            }
            if (step.consumed == 0) break;
          }
          break;
        }
        case BodyKind::none:
          break;
      }
    }
    if (max_bytes && out.bytes + payload > max_bytes) {
      out.status = RelayStatus::too_large;
      co_return out;
    }
    if (finished && chunk_out) {
      trailer_end = "0\r\n";
      if (kind == BodyKind::chunked) trailer_end += dec.trailers();
      trailer_end += "\r\n";
      b.add(trailer_end);
    }
    if (b.n > 0) {
      out.wrote = true;
      e.dst_deadline.expire_in(e.dst_timeout);
      auto [ec, n] = co_await e.dst.write_all(std::span(b.bufs.data(), b.n));
      if (ec) {
        out.status = RelayStatus::dst_error;
        out.detail = e.dst_deadline.fired() ? "write timeout" : "write failed";
        co_return out;
      }
    }
    e.buf.consume(consumed);
    out.bytes += payload;
    if (finished) co_return out;
    if (!need_input) continue;

    if (e.buf.tail_room() < 4096) e.buf.reserve_tail(kReadChunk);
    std::chrono::milliseconds wait = e.src_timeout;
    bool by_rate = false;
    if (rate_on && credit_ms < wait.count()) {
      wait = std::chrono::milliseconds(std::max<int64_t>(credit_ms, 0));
      by_rate = true;
    }
    e.src_deadline.expire_in(wait);
    const int64_t waited_from = rated ? now_ms() : 0;
    if (e.src_waiting) *e.src_waiting = true;
    auto [ec, n] = co_await e.src.read_some(asio::buffer(e.buf.tail(), e.buf.tail_room()));
    if (e.src_waiting) *e.src_waiting = false;
    if (ec || n == 0) {
      if (kind == BodyKind::until_close && ec == asio::error::eof) {
        src_ended = true;
        continue;
      }
      if (e.src_deadline.fired()) out.status = by_rate ? RelayStatus::src_too_slow : RelayStatus::src_timeout;
      else if (ec == asio::error::eof) out.status = RelayStatus::src_closed;
      else out.status = RelayStatus::src_error;
      co_return out;
    }
    e.buf.commit(n);
    if (rated) {
      if (rate_on) credit_ms -= now_ms() - waited_from;
      rate_on = true;
      credit_ms = std::min<int64_t>(kMinRateGraceMs,
                                    credit_ms + static_cast<int64_t>(n * 1000 / e.src_min_rate));
    }
  }
}

}  // namespace gh::proxy
