// The byte relay of a stream connection. Both sides are plain TCP (a `listen`
// stream, or SNI passthrough where the TLS bytes are not ours to read), so
// bytes move socket -> pipe -> socket with splice(2) and never enter user
// space; where the kernel refuses splice (EINVAL: a socket type it cannot
// splice) the same loop copies through a small buffer instead.
#include "stream/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "upstream/passive_health.h"

namespace gh::stream {

using namespace gh::net;

namespace {

// Bytes asked of one splice: the pipe's capacity (a smaller pipe moves less).
constexpr size_t kSpliceChunk = StreamWorker::kPipeBytes;
// The copy fallback's buffer (allocated only when splice is refused).
constexpr size_t kCopyChunk = 16 * 1024;

bool fatal_errno(int e) { return e != EAGAIN && e != EWOULDBLOCK && e != EINTR; }

// The backend's load for least_conn while a connection is open to it.
struct Holding {
  explicit Holding(upstream::Backend* b) : b(b) {
    b->requests.fetch_add(1, std::memory_order_relaxed);
    b->in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~Holding() { b->in_flight.fetch_sub(1, std::memory_order_relaxed); }
  upstream::Backend* b;
};

}  // namespace

struct Relay::Direction {
  Socket& src;
  Socket& dst;
  uint64_t& bytes;
  StreamWorker::Pipe pipe;          // lent by the worker while bytes pass
  size_t in_pipe = 0;               // bytes in `pipe` not yet written to dst
  std::unique_ptr<char[]> buf;      // the copy fallback's buffer
};

Relay::Relay(StreamWorker& w, Socket client)
    : w_(w), client_(std::move(client)), backend_(w.worker.ctx), deadline_(w.worker.deadlines, &on_deadline, this) {
  next = w_.relays_;
  if (next) next->prev = this;
  w_.relays_ = this;
  w_.open_.add();
}

Relay::~Relay() {
  if (prev) prev->next = next;
  else w_.relays_ = next;
  if (next) next->prev = prev;
  w_.open_.sub();
  deadline_.clear();
}

void Relay::fail(std::string_view why) {
  if (!broken_) end_ = why;
  broken_ = true;
  error_code ec;
  client_.cancel(ec);
  backend_.cancel(ec);
}

void Relay::abort() { fail("shutdown"); }

void Relay::on_deadline(void* self) {
  auto* r = static_cast<Relay*>(self);
  if (r->connecting_) {
    error_code ec;
    r->backend_.cancel(ec);   // the connect in progress ends with operation_aborted
    return;
  }
  r->fail("idle_timeout");
}

awaitable<bool> Relay::connect(const StreamRuntime& s, StreamRecord& rec) {
  upstream::Balancer& bal = w_.balancer(s);
  std::vector<upstream::Backend*> tried;
  std::vector<tcp::endpoint> eps;
  const bool may_eject = s.backends.size() > 1;
  uint64_t hash = 0;
  {
    auto a = rec.client.address();
    if (a.is_v4()) {
      auto b = a.to_v4().to_bytes();
      hash = upstream::hash_client_address(b);
    } else {
      auto b = a.to_v6().to_bytes();
      hash = upstream::hash_client_address(b);
    }
  }
  for (unsigned attempt = 0; attempt < kMaxTries && !broken_; ++attempt) {
    upstream::PickContext pc;
    pc.client_hash = hash;
    pc.exclude = tried;
    pc.now_ms = upstream::steady_ms();
    upstream::Backend* b = bal.pick(pc);
    if (!b) break;
    tried.push_back(b);
    ++rec.attempts;
    connecting_ = true;
    deadline_.clear_fired();
    deadline_.expire_in(s.conf->connect_timeout);
    error_code ec = co_await w_.resolver.resolve(b->host, b->port, eps);
    const char* why = nullptr;
    std::string detail;
    if (ec) {
      why = "name resolution failed";
      detail = ec.message();
    } else {
      ec = asio::error::host_not_found;
      for (const auto& ep : eps) {
        if (deadline_.fired() || broken_) break;
        error_code ignored;
        backend_.close(ignored);
        auto [cec] = co_await backend_.async_connect(ep, nothrow);
        ec = cec;
        if (!ec) break;
      }
      if (ec) {
        why = deadline_.fired() || ec == asio::error::timed_out ? "connect timeout" : "connect failed";
        detail = deadline_.fired() ? "" : ec.message();
      }
    }
    connecting_ = false;
    deadline_.clear();
    if (broken_) {
      error_code ignored;
      backend_.close(ignored);
      co_return false;
    }
    if (!why) {
      upstream::record_success(*b);
      rec.backend = b;
      co_return true;
    }
    error_code ignored;
    backend_.close(ignored);
    if (deadline_.fired()) w_.resolver.invalidate(b->host);
    upstream::record_failure(*b, may_eject, upstream::steady_ms());
    GH_WARN("stream %s: backend %s: %s%s%s", s.name.c_str(), b->name.c_str(), why,
            detail.empty() ? "" : ": ", detail.c_str());
  }
  co_return false;
}

awaitable<bool> Relay::send_backend(std::string_view bytes, std::chrono::milliseconds limit) {
  if (bytes.empty()) co_return true;
  idle_ = limit;
  touch();
  auto [ec, n] = co_await asio::async_write(backend_, asio::buffer(bytes.data(), bytes.size()), nothrow);
  if (ec && !broken_) fail("reset");
  co_return !broken_;
}

awaitable<void> Relay::run(std::chrono::milliseconds idle, StreamRecord& rec) {
  using namespace asio::experimental::awaitable_operators;
  error_code ec;
  client_.native_non_blocking(true, ec);
  backend_.native_non_blocking(true, ec);
  backend_.set_option(tcp::no_delay(true), ec);
  client_.set_option(tcp::no_delay(true), ec);
  idle_ = idle;
  touch();
  Holding hold(const_cast<upstream::Backend*>(rec.backend));
  Direction up{client_, backend_, rec.bytes_up, {}, 0, {}};
  Direction down{backend_, client_, rec.bytes_down, {}, 0, {}};
  co_await (pump(up) && pump(down));
  deadline_.clear();
  rec.end = broken_ ? end_ : std::string_view("closed");
}

awaitable<void> Relay::pump(Direction& d) {
  bool spliced = false;
  if (w_.splice) spliced = co_await pump_spliced(d);
  if (!spliced) co_await pump_copied(d);
  if (d.pipe.r >= 0) w_.give_pipe(d.pipe, d.in_pipe == 0);
  d.pipe = {};
}

// Writes n bytes to dst, waiting for room; false on an error or when the
// relay broke meanwhile.
awaitable<bool> Relay::write_all(Socket& dst, const char* p, size_t n, Direction& d) {
  while (n > 0) {
    ssize_t m = ::send(dst.native_handle(), p, n, MSG_NOSIGNAL);
    if (m > 0) {
      p += m;
      n -= size_t(m);
      d.bytes += uint64_t(m);
      touch();
      continue;
    }
    if (m < 0 && fatal_errno(errno)) {
      fail("reset");
      co_return false;
    }
    if (m < 0 && errno == EINTR) continue;
    auto [ec] = co_await dst.async_wait(Socket::wait_write, nothrow);
    if (broken_) co_return false;
    if (ec) {
      fail("reset");
      co_return false;
    }
  }
  co_return true;
}

// The splice loop. Returns false (nothing moved yet) when splice cannot be
// used on these descriptors, for the copy loop to take over; true when the
// direction is over (FIN passed on, or the relay broke).
awaitable<bool> Relay::pump_spliced(Direction& d) {
  const int src = d.src.native_handle();
  const int dst = d.dst.native_handle();
  for (;;) {
    if (broken_) co_return true;
    if (d.pipe.r < 0) {
      d.pipe = w_.take_pipe();
      if (d.pipe.r < 0) co_return false;   // out of descriptors: copy instead
    }
    ssize_t n = ::splice(src, nullptr, d.pipe.w, nullptr, kSpliceChunk,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      touch();
      d.in_pipe = size_t(n);
      while (d.in_pipe > 0) {
        ssize_t m = ::splice(d.pipe.r, nullptr, dst, nullptr, d.in_pipe,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (m > 0) {
          d.in_pipe -= size_t(m);
          d.bytes += uint64_t(m);
          touch();
          continue;
        }
        if (m < 0 && errno == EINTR) continue;
        if (m < 0 && (errno == EINVAL || errno == ENOSYS)) {
          // The pipe's bytes reach dst through user space, then copy on.
          std::unique_ptr<char[]> tmp(new char[kCopyChunk]);
          while (d.in_pipe > 0) {
            ssize_t r = ::read(d.pipe.r, tmp.get(), std::min(d.in_pipe, kCopyChunk));
            if (r <= 0) {
              fail("reset");
              co_return true;
            }
            d.in_pipe -= size_t(r);
            bool ok = co_await write_all(d.dst, tmp.get(), size_t(r), d);
            if (!ok) co_return true;
          }
          co_return false;
        }
        if (m < 0 && fatal_errno(errno)) {   // EPIPE, ECONNRESET
          fail("reset");
          co_return true;
        }
        auto [ec] = co_await d.dst.async_wait(Socket::wait_write, nothrow);
        if (broken_) co_return true;
        if (ec) {
          fail("reset");
          co_return true;
        }
      }
      continue;
    }
    if (n == 0) {   // FIN: pass it on, the other direction runs on
      ::shutdown(dst, SHUT_WR);
      co_return true;
    }
    const int e = errno;
    if (e == EINTR) continue;
    if (e == EINVAL || e == ENOSYS) co_return false;
    if (fatal_errno(e)) {
      fail("reset");
      co_return true;
    }
    // Nothing to read: the pipe (empty) goes back while this side waits.
    w_.give_pipe(d.pipe, true);
    d.pipe = {};
    auto [ec] = co_await d.src.async_wait(Socket::wait_read, nothrow);
    if (broken_) co_return true;
    if (ec) {
      fail("reset");
      co_return true;
    }
  }
}

awaitable<void> Relay::pump_copied(Direction& d) {
  if (!d.buf) d.buf.reset(new char[kCopyChunk]);
  const int src = d.src.native_handle();
  for (;;) {
    if (broken_) co_return;
    ssize_t n = ::recv(src, d.buf.get(), kCopyChunk, 0);
    if (n > 0) {
      touch();
      bool ok = co_await write_all(d.dst, d.buf.get(), size_t(n), d);
      if (!ok) co_return;
      continue;
    }
    if (n == 0) {
      ::shutdown(d.dst.native_handle(), SHUT_WR);
      co_return;
    }
    if (errno == EINTR) continue;
    if (fatal_errno(errno)) {
      fail("reset");
      co_return;
    }
    auto [ec] = co_await d.src.async_wait(Socket::wait_read, nothrow);
    if (broken_) co_return;
    if (ec) {
      fail("reset");
      co_return;
    }
  }
}

}  // namespace gh::stream
