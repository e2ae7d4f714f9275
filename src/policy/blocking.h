// Work that would stall a worker's event loop (password hashes: bcrypt
// takes milliseconds to hundreds of milliseconds by design) runs on a small
// process-wide thread pool; the request's coroutine waits and resumes on its
// own worker, so other connections of that worker are served meanwhile.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <type_traits>

#include "net/asio.h"

namespace gh::policy {

// The pool: as many threads as CPUs (at least 2), created on first use.
net::asio::thread_pool& blocking_pool();

// Runs `f()` (no arguments, a copyable result) on the pool; resumes the
// caller on its own executor with the result: `R r = co_await run_blocking(f)`.
// Not a coroutine itself (GCC 12 mishandles lambdas passed by value into
// coroutine frames): the initiation hands `f` to the pool directly.
template <class F>
auto run_blocking(F f) {
  using R = std::invoke_result_t<F>;
  return net::asio::async_initiate<const net::asio::use_awaitable_t<net::Executor>, void(R)>(
      [](auto handler, F fn) {
        auto work = net::asio::make_work_guard(net::asio::get_associated_executor(handler));
        net::asio::post(blocking_pool(), [work = std::move(work), fn = std::move(fn),
                                          h = std::move(handler)]() mutable {
          R r = fn();
          auto exec = work.get_executor();
          net::asio::post(exec, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(r); });
        });
      },
      net::use_awaitable, std::move(f));
}

}  // namespace gh::policy
