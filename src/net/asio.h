// The Asio names every layer above uses, in one place.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/connect.hpp>

namespace gh::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Sockets bound to a concrete io_context executor: smaller than the
// type-erased default, and so is every pending operation on them — that is
// most of what an idle connection costs.
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using error_code = boost::system::error_code;
// Coroutines on the concrete io_context executor too: with the type-erased
// default every suspension copies, compares and destroys an any_io_executor.
using Executor = asio::io_context::executor_type;
template <class T = void>
using awaitable = asio::awaitable<T, Executor>;
inline constexpr asio::use_awaitable_t<Executor> use_awaitable;

// Completion token that never throws: `auto [ec, n] = co_await op(..., nothrow);`
inline constexpr auto nothrow = asio::as_tuple(use_awaitable);

}  // namespace gh::net
