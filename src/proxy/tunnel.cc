// After a valid 101, the client and backend connections become one two-way
// byte tunnel: two copy loops with bounded buffers. A FIN on one side is
// passed on as a half-close; an error or the idle timeout ends both.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/session.h"

namespace gh::proxy {

using namespace gh::net;

awaitable<void> Session::pipe(Stream& src, core::Buffer& buf, Stream& dst) {
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  for (;;) {
    if (!buf.empty()) {
      auto [ec, n] = co_await dst.write_all(asio::buffer(buf.data(), buf.size()));
      if (ec) break;
      buf.consume(buf.size());
      down_dl_.expire_in(idle);
      up_dl_.expire_in(idle);
    }
    if (tunnel_broken_) break;
    if (buf.tail_room() < 4096) buf.reserve_tail(16 * 1024);
    auto [ec, n] = co_await src.read_some(asio::buffer(buf.tail(), buf.tail_room()));
    if (ec == asio::error::eof) {
      dst.shutdown_send();   // half-close: the other direction may still talk
      co_return;
    }
    if (ec) break;
    buf.commit(n);
    down_dl_.expire_in(idle);
    up_dl_.expire_in(idle);
  }
  // Reset, timeout or write failure: the tunnel is over in both directions.
  tunnel_broken_ = true;
  down_.cancel();
  if (up_) up_->stream.cancel();
}

awaitable<void> Session::tunnel() {
  using namespace asio::experimental::awaitable_operators;
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  tunnel_broken_ = false;
  closing_ = true;
  down_dl_.clear_fired();
  up_dl_.clear_fired();
  down_dl_.expire_in(idle);
  up_dl_.expire_in(idle);
  co_await (pipe(down_, in_, up_->stream) && pipe(up_->stream, up_in_, down_));
  down_dl_.clear();
  up_dl_.clear();
  release_upstream(false);
}

}  // namespace gh::proxy
