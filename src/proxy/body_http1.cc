#include "proxy/body_http1.h"

#include <algorithm>
#include <array>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <span>

#include <sys/socket.h>

#include "net/splice.h"

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

namespace {

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
  // Room for the rest of the body, up to a 64 KiB body block: a large body
  // then moves in 64 KiB reads and writes (a quarter of the syscalls and
  // segments of 16 KiB ones), a small one never grows the buffer.
  size_t want = core::Buffer::kBodyBlock;
  if (kind_ == BodyKind::content_length) {
    const uint64_t held = buf_.size() - skip_;
    want = static_cast<size_t>(std::min<uint64_t>(want, remaining_ > held ? remaining_ - held : 1));
  }
  if (buf_.tail_room() < want) {
    // Held bytes (a head, a partial chunk) share the block rather than
    // doubling it to 128 KiB: reserve_tail() compacts before it grows.
    if (buf_.size() < core::Buffer::kBodyBlock / 2) want = std::min(want, core::Buffer::kBodyBlock - buf_.size());
    buf_.reserve_tail(std::max<size_t>(want, 4096));
  }
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

// Splice only for more body still to be read than one 64 KiB body block:
// up to that the copy path moves it in one read and one write, as many
// syscalls as splice's two (strace, 1,000 responses of 64 KiB: 7.9
// syscalls each copied, 8.1 spliced; of 128 KiB: 10.9 copied, 8.1 spliced).
constexpr uint64_t kSpliceMinBody = core::Buffer::kBodyBlock + 1;

bool Http1BodySource::splice_worth(uint64_t max_bytes) const {
  if (kind_ != BodyKind::content_length || ended_ || stream_.is_tls()) return false;
  if (max_bytes && remaining_ > max_bytes) return false;
  const uint64_t held = buf_.size() - skip_;
  return remaining_ > held && remaining_ - held >= kSpliceMinBody && net::splice_allowed();
}

Http1BodySink* Http1BodySink::spliceable(http::BodySink& sink) {
  auto* s = dynamic_cast<Http1BodySink*>(&sink);
  if (!s || s->chunk_out_ || s->stream_.is_tls()) return nullptr;
  return s;
}

awaitable<http::RelayOutcome> relay_spliced(Http1BodySource& src, Http1BodySink& dst,
                                            net::PipeCache& pipes) {
  http::RelayOutcome out;
  {
    // The head and what came with it, in one write as the copy path sends them.
    http::BodyBatch b;
    src.take(b);   // (Content-Length: no framing to fail)
    if (b.n > 0 || b.end || dst.holds_head()) {
      out.wrote = true;
      const bool written = co_await dst.write(b);
      if (!written) {
        out.status = http::RelayStatus::dst_error;
        out.detail = "write failed";
        co_return out;
      }
    }
    src.consume(b);
    out.bytes += b.payload;
    if (b.end) co_return out;
  }
  Socket& from = src.stream_.socket();
  Socket& to = dst.stream_.socket();
  if (dst.stream_.nodelay_pending()) {
    // The copy path sets TCP_NODELAY at its second write; splice writes
    // around the Stream, and the body's last segment must not wait for an
    // ACK behind Nagle.
    error_code ignored;
    to.set_option(tcp::no_delay(true), ignored);
    dst.stream_.restore_nodelay_pending(0);
  }
  net::PipePair pipe = pipes.take();
  size_t in_pipe = 0;         // bytes read into the pipe, not yet written
  bool copy = pipe.r < 0;  // the copy path takes the rest over
  int64_t waited_ms = 0;      // waiting for the source since its last bytes (minimum rate)
  while (!copy && src.remaining_ > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(src.remaining_, net::PipeCache::kPipeBytes));
    const ssize_t n = net::splice_some(from.native_handle(), pipe.w, want);
    if (n > 0) {
      src.remaining_ -= static_cast<uint64_t>(n);
      in_pipe = static_cast<size_t>(n);
      if (src.rate_.active()) src.rate_.arrived(static_cast<uint64_t>(n), waited_ms);
      waited_ms = 0;
      while (in_pipe > 0) {
        const ssize_t m = net::splice_some(pipe.r, to.native_handle(), in_pipe);
        if (m > 0) {
          in_pipe -= static_cast<size_t>(m);
          out.bytes += static_cast<uint64_t>(m);
          continue;
        }
        if (m == -EAGAIN) {
          dst.dl_.expire_in(dst.timeout_);
          auto [ec] = co_await to.async_wait(Socket::wait_write, nothrow);
          if (!ec) continue;
        } else if (m == -EINVAL || m == -ENOSYS) {
          // The pipe's bytes go out through user space; the copy path goes on.
          std::unique_ptr<char[]> tmp(new char[net::PipeCache::kPipeBytes]);
          const ssize_t r = ::read(pipe.r, tmp.get(), in_pipe);
          if (r == static_cast<ssize_t>(in_pipe)) {
            in_pipe = 0;
            dst.dl_.expire_in(dst.timeout_);
            auto [ec, k] = co_await dst.stream_.write_all(asio::buffer(tmp.get(), static_cast<size_t>(r)));
            out.bytes += k;
            if (!ec) {
              copy = true;
              break;
            }
          }
        }
        out.status = http::RelayStatus::dst_error;   // EPIPE, ECONNRESET, the write deadline
        out.detail = "write failed";
        break;
      }
      if (out.status != http::RelayStatus::done) break;
      continue;
    }
    if (n == 0) {
      out.status = http::RelayStatus::src_closed;
      out.detail = "closed";
      break;
    }
    if (n == -EINVAL || n == -ENOSYS) {
      copy = true;   // nothing was read: the copy path starts where this stopped
      break;
    }
    if (n != -EAGAIN) {
      out.status = http::RelayStatus::src_error;
      out.detail = "read failed";
      break;
    }
    bool by_rate = false;
    const std::chrono::milliseconds wait = src.rate_.bound(src.timeout_, by_rate);
    src.dl_.clear_fired();
    src.dl_.expire_in(wait);
    const int64_t waited_from = src.rate_.active() ? now_ms() : 0;
    if (src.waiting) *src.waiting = true;
    auto [ec] = co_await from.async_wait(Socket::wait_read, nothrow);
    if (src.waiting) *src.waiting = false;
    if (src.rate_.active()) waited_ms += now_ms() - waited_from;
    if (ec) {
      if (src.dl_.fired()) {
        out.status = by_rate ? http::RelayStatus::src_too_slow : http::RelayStatus::src_timeout;
        out.detail = by_rate ? "slower than the minimum rate" : "timed out";
      } else {
        out.status = http::RelayStatus::src_error;
        out.detail = "read failed";
      }
      break;
    }
  }
  pipes.give(pipe, in_pipe == 0);
  src.detail_ = out.detail;
  if (out.status != http::RelayStatus::done) co_return out;
  if (!copy) {
    src.ended_ = true;
    // splice read exactly the body; whatever the peer sent after it stays in
    // the socket, where nobody would look before reusing the connection. It
    // goes into the source's buffer, as a copy-path read would have taken it
    // along: a backend's surplus then keeps its connection out of the pool
    // (it would be the next client's response), a client's is its next
    // pipelined request.
    core::Buffer& buf = src.buf_;
    if (buf.tail_room() < 4096) buf.reserve_tail(4096);
    const ssize_t extra = ::recv(from.native_handle(), buf.tail(), buf.tail_room(), MSG_DONTWAIT);
    if (extra > 0) buf.commit(static_cast<size_t>(extra));
    co_return out;
  }
  http::RelayOutcome rest = co_await http::relay_body(src, dst, 0);
  rest.bytes += out.bytes;
  rest.wrote = true;
  co_return rest;
}

awaitable<http::RelayOutcome> relay_body_maybe_spliced(Http1BodySource& src, http::BodySink& dst,
                                                       uint64_t max_bytes, net::PipeCache& pipes) {
  if (src.splice_worth(max_bytes))
    if (Http1BodySink* plain = Http1BodySink::spliceable(dst)) return relay_spliced(src, *plain, pipes);
  return http::relay_body(src, dst, max_bytes);
}

awaitable<http::RelayOutcome> relay_body_maybe_spliced(http::BodySource& src, http::BodySink& dst,
                                                       uint64_t max_bytes, net::PipeCache& pipes) {
  if (Http1BodySource* s = Http1BodySource::of(src)) return relay_body_maybe_spliced(*s, dst, max_bytes, pipes);
  return http::relay_body(src, dst, max_bytes);
}

}  // namespace gh::proxy
