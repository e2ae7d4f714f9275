// One coroutine waits, anything on the same thread wakes it: the signal
// between an HTTP/2 connection's reader/writer and its streams. A wake()
// before the wait is kept, so none is lost.
#pragma once

#include <chrono>

#include "net/asio.h"

namespace gh::proxy {

class Wakeup {
 public:
  explicit Wakeup(net::Executor ex) : t_(ex) {}
  // Waits until wake() (true) or, with a `timeout` above 0, until it passed
  // (false). At most one waiter at a time.
  net::awaitable<bool> wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    if (!woken_) {
      if (timeout.count() > 0) t_.expires_after(timeout);
      else t_.expires_at(net::asio::steady_timer::time_point::max());
      co_await t_.async_wait(net::nothrow);
    }
    const bool w = woken_;
    woken_ = false;
    co_return w;
  }
  void wake() {
    woken_ = true;
    t_.cancel();
  }

 private:
  net::asio::steady_timer t_;
  bool woken_ = false;
};

}  // namespace gh::proxy
