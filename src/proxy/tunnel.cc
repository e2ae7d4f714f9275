// After a valid 101, the client and backend connections become one two-way
// byte tunnel: two copy loops with bounded buffers. A FIN on one side is
// passed on as a half-close; an error or the idle timeout ends both.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/log.h"
#include "net/inq_read.h"
#include "proxy/session.h"

namespace gh::proxy {

using namespace gh::net;

// Plain TCP sources read with TCP_INQ (net/inq_read.h): a read that drained
// the socket is followed by a wait for epoll, not by a read that finds
// nothing, so a relayed message costs one recv, as in nginx. TLS sources
// read through OpenSSL, which keeps its own count (net/tls_wait.h).
awaitable<void> Session::pipe(Stream& src, core::Buffer& buf, Stream& dst, Deadline& up_dl) {
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  const bool inq = !src.is_tls() && enable_read_inq(src.socket());
  for (;;) {
    if (!buf.empty()) {
      auto [ec, n] = co_await dst.write_all(asio::buffer(buf.data(), buf.size()));
      if (ec) break;
      buf.consume(buf.size());
      down_dl_.expire_in(idle);
      up_dl.expire_in(idle);
    }
    if (tunnel_broken_) break;
    if (buf.tail_room() < 4096) buf.reserve_tail(16 * 1024);
    error_code ec;
    size_t n = 0;
    if (inq) {
      auto [e, k] =
          co_await async_read_some_inq(src.socket(), asio::buffer(buf.tail(), buf.tail_room()));
      ec = e;
      n = k;
    } else {
      auto [e, k] = co_await src.read_some(asio::buffer(buf.tail(), buf.tail_room()));
      ec = e;
      n = k;
    }
    if (ec == asio::error::eof) {
      dst.shutdown_send();   // half-close: the other direction may still talk
      co_return;
    }
    if (ec) break;
    buf.commit(n);
    down_dl_.expire_in(idle);
    up_dl.expire_in(idle);
  }
  // Reset, timeout or write failure: the tunnel is over in both directions.
  tunnel_broken_ = true;
  down_.cancel();
  if (&src == &down_) dst.cancel();
  else src.cancel();
}

// The request is done when its tunnel starts (the log line goes now: a
// tunnel may last hours). Bytes the client sent before it could have seen
// the 101 (RFC 6455 forbids that) were meant as HTTP, never as tunnel data.
awaitable<void> Session::tunnel(upstream::UpConn& up, core::Buffer& up_in, Deadline& up_dl) {
  using namespace asio::experimental::awaitable_operators;
  if (!in_.empty()) {
    GH_WARN("client %s sent %zu bytes before the 101 of its upgrade; dropped, not tunnelled",
            client_.ip_str.c_str(), in_.size());
    in_.clear();
  }
  backend_ = up.backend;
  finish_log();
  GaugeHold open(ws_.metrics.tunnels);
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  tunnel_broken_ = false;
  closing_ = true;
  down_dl_.clear_fired();
  up_dl.clear_fired();
  down_dl_.expire_in(idle);
  up_dl.expire_in(idle);
  co_await (pipe(down_, in_, up.stream, up_dl) && pipe(up.stream, up_in, down_, up_dl));
  down_dl_.clear();
  up_dl.clear();
}

}  // namespace gh::proxy
