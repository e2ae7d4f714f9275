// The byte relay of a stream connection. Both sides are plain TCP (a `listen`
// stream, or SNI passthrough where the TLS bytes are not ours to read). Each
// direction copies its first kSpliceAfterBytes through the worker's buffer
// (recv, send), then moves bytes socket -> pipe -> socket with splice(2) so
// they never enter user space; where the kernel refuses splice (EINVAL: a
// socket type it cannot splice) it copies to the end instead. splice(2)
// into a reset socket raises SIGPIPE (it has no MSG_NOSIGNAL): the process
// ignores SIGPIPE (app/control.cc), so it comes back as EPIPE.
//
// Waits: a wait for readiness is Asio's async_wait, which re-arms the
// descriptor (EPOLL_CTL_MOD) and so reports the socket's level, bytes or a
// FIN that came before the wait included. A direction therefore waits right
// after a short read instead of spending a recv on EAGAIN, and the backend
// side starts with a wait (nothing can come from it before it is written to,
// or, for a backend that speaks first, the wait reports it at once).
#include "stream/relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "net/adopt.h"
#include "net/splice.h"
#include "upstream/passive_health.h"

namespace gh::stream {

using namespace gh::net;

namespace {

// Bytes asked of one splice: the pipe's capacity (a smaller pipe moves less).
constexpr size_t kSpliceChunk = PipeCache::kPipeBytes;
// Bytes asked of one recv while copying: the worker's shared buffer.
constexpr size_t kCopyChunk = StreamWorker::kCopyBytes;

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

CopyNext after_copy(size_t got, size_t asked, uint64_t copied, uint64_t splice_after) {
  if (splice_after != 0 && copied >= splice_after) return CopyNext::splice;
  return got >= asked ? CopyNext::read_again : CopyNext::wait;
}

struct Relay::Direction {
  Socket& src;
  Socket& dst;
  uint64_t& bytes;
  bool wait_first = false;          // nothing can be there before the other side wrote
  uint64_t copied = 0;              // bytes moved through user space
  PipePair pipe;                    // lent by the worker while bytes pass
  size_t in_pipe = 0;               // bytes in `pipe` not yet written to dst
  std::unique_ptr<char[]> buf;      // what a send left over while dst is full
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
        error_code cec = co_await connect_to(ep);
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

// One connect: our own socket (non-blocking from socket(2), adopted so Asio
// neither sets O_NONBLOCK again nor removes it from epoll before closing it).
// On loopback or a fast network the handshake is done by the time
// connect(2) returns EINPROGRESS (the kernel ran the SYN-ACK's softirq on
// the way out), so a poll(2) with no timeout says so, errors included, at
// the cost of one syscall; only a connect still in progress waits in Asio
// for writability and then asks SO_ERROR. That wait adds EPOLLOUT to the
// socket's epoll registration for good, and every later re-arm of the
// socket would then report an (unwanted) writable event: a wakeup more per
// wait. operation_aborted when the deadline or an abort cancelled the wait.
awaitable<error_code> Relay::connect_to(const tcp::endpoint& ep) {
  error_code ec;
  backend_.close(ec);
  ec = {};
  const bool v6 = ep.protocol() == tcp::v6();
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return error_code(errno, asio::error::get_system_category());
  if (!adopt_nonblocking(backend_, fd, v6, ec)) {
    ::close(fd);
    co_return ec;
  }
  if (::connect(fd, ep.data(), socklen_t(ep.size())) == 0) co_return error_code();
  if (errno != EINPROGRESS) co_return error_code(errno, asio::error::get_system_category());
  pollfd p{fd, POLLOUT, 0};
  const int ready = ::poll(&p, 1, 0);
  if (ready == 1 && (p.revents & (POLLERR | POLLHUP)) == 0) co_return error_code();   // connected
  if (ready != 1) {
    auto [wec] = co_await backend_.async_wait(Socket::wait_write, nothrow);
    if (wec) co_return wec;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0 && ready == 1) err = ECONNREFUSED;   // POLLHUP without an error: not connected
  co_return err ? error_code(err, asio::error::get_system_category()) : error_code();
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
  // Both sockets are non-blocking already (accept4 and socket(2) with
  // SOCK_NONBLOCK); the copying phase also says MSG_DONTWAIT.
  error_code ec;
  backend_.set_option(tcp::no_delay(true), ec);
  client_.set_option(tcp::no_delay(true), ec);
  idle_ = idle;
  touch();
  Holding hold(const_cast<upstream::Backend*>(rec.backend));
  Direction up{client_, backend_, rec.bytes_up, false, 0, {}, 0, {}};
  Direction down{backend_, client_, rec.bytes_down, true, 0, {}, 0, {}};
  co_await (pump(up) && pump(down));
  deadline_.clear();
  rec.end = broken_ ? end_ : std::string_view("closed");
}

awaitable<void> Relay::pump(Direction& d) {
  const uint64_t splice_after = w_.splice ? kSpliceAfterBytes : 0;
  bool more = co_await pump_copied(d, splice_after);
  if (more) {
    // A long connection: splice from now on. The sockets are non-blocking
    // already; said again here (two ioctls per long connection) because a
    // splice into a blocking socket would stall the whole worker.
    error_code ec;
    d.src.native_non_blocking(true, ec);
    d.dst.native_non_blocking(true, ec);
    const bool spliced = co_await pump_spliced(d);
    if (!spliced) co_await pump_copied(d, 0);
  }
  if (d.pipe.r >= 0) w_.pipes.give(d.pipe, d.in_pipe == 0);
  d.pipe = {};
}

// Writes n bytes to dst, waiting for room; false on an error or when the
// relay broke meanwhile.
awaitable<bool> Relay::write_all(Socket& dst, const char* p, size_t n, Direction& d) {
  while (n > 0) {
    ssize_t m = ::send(dst.native_handle(), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
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
      d.pipe = w_.pipes.take();
      if (d.pipe.r < 0) co_return false;   // out of descriptors: copy instead
    }
    ssize_t n = net::splice_some(src, d.pipe.w, kSpliceChunk);   // (errno stays set on failure)
    if (n > 0) {
      touch();
      d.in_pipe = size_t(n);
      while (d.in_pipe > 0) {
        ssize_t m = net::splice_some(d.pipe.r, dst, d.in_pipe);
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
    w_.pipes.give(d.pipe, true);
    d.pipe = {};
    auto [ec] = co_await d.src.async_wait(Socket::wait_read, nothrow);
    if (broken_) co_return true;
    if (ec) {
      fail("reset");
      co_return true;
    }
  }
}

// The copying loop, through the worker's buffer (held only between a recv
// and its send; what a full dst leaves over waits in d.buf). Returns true
// when `splice_after` bytes were copied and the direction is still open (0:
// copy to the end), false when the direction is over (FIN passed on, or
// the relay broke).
awaitable<bool> Relay::pump_copied(Direction& d, uint64_t splice_after) {
  const int src = d.src.native_handle();
  const int dst = d.dst.native_handle();
  bool wait = d.wait_first;
  d.wait_first = false;
  for (;;) {
    if (broken_) co_return false;
    if (wait) {
      auto [ec] = co_await d.src.async_wait(Socket::wait_read, nothrow);
      if (broken_) co_return false;
      if (ec) {
        fail("reset");
        co_return false;
      }
    }
    char* buf = w_.copy_buffer();
    ssize_t n = ::recv(src, buf, kCopyChunk, MSG_DONTWAIT);
    if (n > 0) {
      touch();
      ssize_t m = ::send(dst, buf, size_t(n), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (m < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) m = 0;
      if (m < 0) {
        fail("reset");
        co_return false;
      }
      d.bytes += uint64_t(m);
      if (m < n) {   // dst is full: the rest leaves the shared buffer first
        if (!d.buf) d.buf.reset(new char[kCopyChunk]);
        std::memcpy(d.buf.get(), buf + m, size_t(n - m));
        bool ok = co_await write_all(d.dst, d.buf.get(), size_t(n - m), d);
        if (!ok) co_return false;
      }
      d.copied += uint64_t(n);
      const CopyNext next = after_copy(size_t(n), kCopyChunk, d.copied, splice_after);
      if (next == CopyNext::splice) co_return true;
      wait = next == CopyNext::wait;
      continue;
    }
    if (n == 0) {   // FIN: pass it on, the other direction runs on
      ::shutdown(dst, SHUT_WR);
      co_return false;
    }
    if (errno == EINTR) {
      wait = false;
      continue;
    }
    if (fatal_errno(errno)) {
      fail("reset");
      co_return false;
    }
    wait = true;
  }
}

}  // namespace gh::stream
