#include "net/server.h"

#include "net/adopt.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include "core/log.h"
#include "net/adopt.h"

namespace gh::net {

std::atomic<uint64_t> Server::open_connections{0};

ConnectionSlot::ConnectionSlot(Worker* w) : w_(w) {
  Server::open_connections.fetch_add(1, std::memory_order_relaxed);
  ++w_->connections;
}

ConnectionSlot ConnectionSlot::adopt(Worker* w) {
  ConnectionSlot s;
  s.w_ = w;
  ++w->connections;
  return s;
}

void ConnectionSlot::release() {
  if (!w_) return;
  Server::open_connections.fetch_sub(1, std::memory_order_relaxed);
  --w_->connections;
  w_ = nullptr;
}

Server::Server(unsigned n, uint64_t max_connections) : max_connections_(max_connections) {
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i));
}

Server::~Server() = default;

static bool resolve_bind_address(const std::string& host, uint16_t port, tcp::endpoint& ep,
                                 std::string& err) {
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  error_code ec;
  auto addr = asio::ip::make_address(h, ec);
  if (ec) {
    err = "cannot listen on '" + host + "': not an IP address";
    return false;
  }
  ep = tcp::endpoint(addr, port);
  return true;
}

bool Server::listen(const ListenerSpec& spec, std::string& err) {
  tcp::endpoint ep;
  if (!resolve_bind_address(spec.host, spec.port, ep, err)) return false;
  {
    // SO_REUSEPORT would let us silently share a port with another process
    // (a second gatehouse, say): probe with a plain bind first.
    asio::io_context probe_ctx;
    tcp::acceptor probe(probe_ctx);
    error_code ec;
    probe.open(ep.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && ep.address().is_v6()) probe.set_option(asio::ip::v6_only(true), ec);
    if (!ec) probe.bind(ep, ec);
    if (ec) {
      err = "cannot listen on " + spec.host + ":" + std::to_string(spec.port) + " (" + spec.kind +
            "): " + ec.message();
      return false;
    }
  }
  for (auto& w : workers_) {
    auto acc = std::make_unique<tcp::acceptor>(w->ctx);
    error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = error_code(errno, boost::system::system_category());
    }
    if (!ec && ep.address().is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(4096, ec);
    if (!ec) acc->non_blocking(true, ec);   // accept_one() calls accept4 directly
    if (ec) {
      err = "cannot listen on " + spec.host + ":" + std::to_string(spec.port) + " (" + spec.kind +
            "): " + ec.message();
      return false;
    }
    // Remember which spec this acceptor serves through its position.
    w->acceptors.push_back(std::move(acc));
  }
  specs_.push_back(spec);
  return true;
}

// One accepted connection, non-blocking from accept4 itself, handed to Asio
// without the ioctl and the epoll_ctl it would add (net/adopt.h). Tries
// accept4 before waiting, so a connection already queued costs no wait.
static awaitable<std::pair<error_code, Socket>> accept_one(Worker& w, tcp::acceptor& acc,
                                                           tcp::endpoint& peer) {
  for (;;) {
    socklen_t len = sizeof(sockaddr_in6);
    int fd = ::accept4(acc.native_handle(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      peer.resize(len);
      Socket s(w.ctx.get_executor());
      error_code ec;
      if (!adopt_nonblocking(s, fd, peer.protocol() == tcp::v6(), ec)) ::close(fd);
      co_return std::pair{ec, std::move(s)};
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      co_return std::pair{error_code(errno, asio::error::get_system_category()),
                          Socket(w.ctx.get_executor())};
    auto [ec] = co_await acc.async_wait(tcp::acceptor::wait_read, nothrow);
    if (ec) co_return std::pair{ec, Socket(w.ctx.get_executor())};
  }
}

awaitable<void> Server::accept_loop(Worker& w, tcp::acceptor& acc, size_t spec_index) {
  const ListenerSpec& spec = specs_[spec_index];
  asio::steady_timer pause(w.ctx);
  int64_t last_fd_warning = 0;
  for (;;) {
    // Over the limit, leave new connections in the kernel backlog.
    while (open_connections.load(std::memory_order_relaxed) >= max_connections_ &&
           !w.draining.load()) {
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(nothrow);
    }
    if (w.draining.load()) co_return;
    tcp::endpoint peer;
    auto [ec, sock] = co_await accept_one(w, acc, peer);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open() || w.draining.load()) co_return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        // Out of file descriptors: back off instead of spinning on the ready listener.
        int64_t now = now_ms();
        if (now - last_fd_warning > 5000) {
          GH_WARN("accept on %s:%u: %s; pausing accepts", spec.host.c_str(), spec.port,
                  ec.message().c_str());
          last_fd_warning = now;
        }
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(nothrow);
      }
      continue;
    }
    // Claim a slot; when other workers took the last ones meanwhile, this
    // connection waits (unserved) until one frees up.
    while (open_connections.fetch_add(1, std::memory_order_relaxed) >= max_connections_) {
      open_connections.fetch_sub(1, std::memory_order_relaxed);
      if (w.draining.load()) co_return;
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(nothrow);
    }
    // TCP_NODELAY is the handler's choice (see Stream::nodelay_from_second_write).
    asio::co_spawn(w.ctx, handler_(w, std::move(sock), peer, spec, ConnectionSlot::adopt(&w)),
                   [](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          GH_ERROR("connection handler failed: %s", ex.what());
        } catch (...) {
          GH_ERROR("connection handler failed");
        }
      }
    });
  }
}

awaitable<void> Server::tick_loop(Worker& w) {
  asio::steady_timer t(w.ctx);
  for (;;) {
    t.expires_after(std::chrono::milliseconds(100));
    auto [ec] = co_await t.async_wait(nothrow);
    if (ec) co_return;
    w.deadlines.fire_due(now_ms());
    if (w.on_tick) w.on_tick();
  }
}

awaitable<void> Server::drain_loop(Worker& w, int64_t deadline_ms) {
  for (auto& acc : w.acceptors) {
    error_code ec;
    acc->close(ec);
  }
  if (w.on_drain) w.on_drain();
  asio::steady_timer t(w.ctx);
  while (w.connections > 0 && now_ms() < deadline_ms) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(nothrow);
    if (w.on_drain) w.on_drain();  // connections that became idle since
  }
  if (w.connections > 0 && w.on_abort) {
    // Past the drain time: cut what is left, and let it unwind (briefly)
    // before the context stops, so no connection outlives the state it uses.
    w.on_abort();
    const int64_t until = now_ms() + 500;
    while (w.connections > 0 && now_ms() < until) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(nothrow);
    }
  }
  if (w.on_tick) w.on_tick();
  w.ctx.stop();
}

void Server::run(Handler handler) {
  handler_ = std::move(handler);
  for (auto& w : workers_) {
    for (size_t i = 0; i < w->acceptors.size(); ++i)
      asio::co_spawn(w->ctx, accept_loop(*w, *w->acceptors[i], i), asio::detached);
    asio::co_spawn(w->ctx, tick_loop(*w), asio::detached);
  }
  for (auto& s : specs_) GH_INFO("listening on %s:%u (%s)", s.host.c_str(), s.port, s.kind.c_str());

  std::vector<std::thread> threads;
  // Signals go to the main thread only (it owns the signal_set).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (auto& w : workers_) {
    Worker* wp = w.get();
    threads.emplace_back([wp] {
      for (;;) {
        try {
          wp->ctx.run();
          break;
        } catch (const std::exception& e) {
          GH_ERROR("worker %u: %s", wp->index, e.what());
        }
      }
    });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  for (auto& t : threads) t.join();
}

void Server::shutdown(std::chrono::milliseconds drain) {
  if (stopping_.exchange(true)) return;
  int64_t deadline = now_ms() + drain.count();
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->draining.store(true);
    asio::co_spawn(wp->ctx, drain_loop(*wp, deadline), asio::detached);
  }
}

}  // namespace gh::net
