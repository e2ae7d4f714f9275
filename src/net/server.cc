#include "net/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

// A listener's identity across reloads and upgrades: its bound address, so
// "localhost" and "127.0.0.1" name the same sockets.
static std::string endpoint_key(const tcp::endpoint& ep) {
  std::string a = ep.address().to_string();
  if (ep.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

static std::string listen_error(const ListenerSpec& spec, int err) {
  return "cannot listen on " + spec.host + ":" + std::to_string(spec.port) + " (" + spec.kind +
         "): " + std::strerror(err);
}

// One SO_REUSEPORT listening socket on `ep` (non-blocking, close-on-exec),
// or -1 with errno set.
static int bind_reuseport(const tcp::endpoint& ep) {
  const bool v6 = ep.address().is_v6();
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      (v6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      ::bind(fd, ep.data(), ep.size()) != 0 || ::listen(fd, 4096) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// SO_REUSEPORT would let us silently share a port with another process (a
// second gatehouse, say): probe with a plain bind first. 0 or an errno.
static int probe_bind(const tcp::endpoint& ep) {
  const bool v6 = ep.address().is_v6();
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  int e = 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (v6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      ::bind(fd, ep.data(), ep.size()) != 0)
    e = errno;
  ::close(fd);
  return e;
}

// The inherited descriptor is a listening TCP socket bound to `ep`'s port
// (a stale or reused number is left alone).
static bool is_listening_on(int fd, const tcp::endpoint& ep) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return false;
  sockaddr_storage ss{};
  len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  if (ss.ss_family == AF_INET)
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == ep.port();
  if (ss.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port) == ep.port();
  return false;
}

void Server::set_inherited(std::vector<InheritedSocket> sockets) {
  std::lock_guard lk(mu_);
  inherited_ = std::move(sockets);
}

size_t Server::close_unused_inherited() {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& s : inherited_) {
    if (s.fd < 0) continue;
    ::close(s.fd);
    s.fd = -1;
    ++n;
  }
  inherited_.clear();
  return n;
}

bool Server::open_listener(const ListenerSpec& spec, Listener& out, std::string& err) {
  tcp::endpoint ep;
  if (!resolve_bind_address(spec.host, spec.port, ep, err)) return false;
  out.spec = std::make_shared<const ListenerSpec>(spec);
  out.key = endpoint_key(ep);
  out.fds.clear();
  // Every inherited socket of this address is taken: closing one would
  // reset the connections the kernel queued on it.
  for (auto& s : inherited_) {
    if (s.fd < 0) continue;
    tcp::endpoint iep;
    std::string ignored;
    if (!resolve_bind_address(s.host, s.port, iep, ignored) || endpoint_key(iep) != out.key) continue;
    if (!is_listening_on(s.fd, ep)) continue;
    ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
    out.fds.push_back(std::exchange(s.fd, -1));
  }
  if (out.fds.empty()) {
    if (int e = probe_bind(ep)) {
      err = listen_error(spec, e);
      return false;
    }
  }
  // One socket per worker at least (more workers than inherited sockets:
  // bind the rest beside them).
  while (out.fds.size() < workers_.size()) {
    int fd = bind_reuseport(ep);
    if (fd < 0) {
      err = listen_error(spec, errno);
      for (int f : out.fds) ::close(f);
      out.fds.clear();
      return false;
    }
    out.fds.push_back(fd);
  }
  return true;
}

// Duplicates of the listener's sockets that worker `w` accepts on: socket i
// belongs to worker i % workers.
static std::vector<int> worker_fds(const std::vector<int>& fds, size_t w, size_t workers) {
  std::vector<int> out;
  for (size_t i = w; i < fds.size(); i += workers) {
    int d = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
    if (d >= 0) out.push_back(d);
  }
  return out;
}

// On the worker's thread (or before it runs): acceptors for `fds`, which
// it then owns; with `spawn`, their accept loops start at once.
static void add_acceptors(Worker& w, const std::shared_ptr<const ListenerSpec>& spec,
                          const std::string& key, const std::vector<int>& fds, bool v6,
                          std::vector<std::shared_ptr<Acceptor>>* started) {
  for (int fd : fds) {
    auto a = std::make_shared<Acceptor>(w.ctx);
    error_code ec;
    a->acc.assign(v6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      GH_ERROR("listener %s: %s", key.c_str(), ec.message().c_str());
      ::close(fd);
      continue;
    }
    a->acc.non_blocking(true, ec);   // accept_one() calls accept4 directly
    a->key = key;
    a->spec = spec;
    w.acceptors.push_back(a);
    if (started) started->push_back(std::move(a));
  }
}

static bool key_is_v6(const std::string& key) { return !key.empty() && key.front() == '['; }

bool Server::listen(const ListenerSpec& spec, std::string& err) {
  std::lock_guard lk(mu_);
  Listener l;
  if (!open_listener(spec, l, err)) return false;
  for (const auto& o : listeners_) {
    if (o.key == l.key) {
      for (int f : l.fds) ::close(f);
      err = "cannot listen on " + spec.host + ":" + std::to_string(spec.port) + " (" + spec.kind +
            "): the " + o.spec->kind + " listener uses that address";
      return false;
    }
  }
  for (auto& w : workers_)
    add_acceptors(*w, l.spec, l.key, worker_fds(l.fds, w->index, workers_.size()),
                  key_is_v6(l.key), nullptr);
  listeners_.push_back(std::move(l));
  return true;
}

bool Server::apply_listeners(const std::vector<ListenerSpec>& wanted, std::string& err,
                             const std::function<void()>& before_commit) {
  std::lock_guard lk(mu_);
  if (stopping_.load()) {
    err = "draining";
    return false;
  }
  // Keys first: a bad address or the same address twice changes nothing.
  std::vector<std::string> keys;
  for (const auto& spec : wanted) {
    tcp::endpoint ep;
    if (!resolve_bind_address(spec.host, spec.port, ep, err)) return false;
    std::string k = endpoint_key(ep);
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
      err = "cannot listen on " + spec.host + ":" + std::to_string(spec.port) + " (" + spec.kind +
            "): another listener uses that address";
      return false;
    }
    keys.push_back(std::move(k));
  }
  auto find = [&](const std::string& k) -> Listener* {
    for (auto& l : listeners_)
      if (l.key == k) return &l;
    return nullptr;
  };
  // Bind every new address before changing anything.
  std::vector<Listener> added;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (find(keys[i])) continue;
    Listener l;
    if (!open_listener(wanted[i], l, err)) {
      for (auto& a : added)
        for (int f : a.fds) ::close(f);
      return false;
    }
    added.push_back(std::move(l));
  }
  if (before_commit) before_commit();
  std::vector<Listener> next;
  for (auto& l : listeners_) {
    auto it = std::find(keys.begin(), keys.end(), l.key);
    if (it == keys.end()) {
      // Gone: each worker closes its acceptors; connections run on.
      std::string key = l.key;
      for (auto& w : workers_) {
        Worker* wp = w.get();
        asio::post(wp->ctx, [wp, key] {
          auto& v = wp->acceptors;
          for (auto& a : v) {
            if (a->key != key) continue;
            error_code ec;
            a->acc.close(ec);
          }
          v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& a) { return a->key == key; }),
                  v.end());
        });
      }
      for (int f : l.fds) ::close(f);
      GH_INFO("stopped listening on %s:%u (%s)", l.spec->host.c_str(), l.spec->port,
              l.spec->kind.c_str());
      continue;
    }
    const ListenerSpec& want = wanted[it - keys.begin()];
    if (want.kind != l.spec->kind || want.host != l.spec->host) {
      // Same sockets, another kind (http <-> https): new connections get it.
      auto spec = std::make_shared<const ListenerSpec>(want);
      std::string key = l.key;
      for (auto& w : workers_) {
        Worker* wp = w.get();
        asio::post(wp->ctx, [wp, key, spec] {
          for (auto& a : wp->acceptors)
            if (a->key == key) a->spec = spec;
        });
      }
      l.spec = spec;
      GH_INFO("listening on %s:%u (%s)", spec->host.c_str(), spec->port, spec->kind.c_str());
    }
    next.push_back(std::move(l));
  }
  for (auto& l : added) {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      // Duplicated here, not on the worker: a later reload may close the
      // listener's own descriptors before this runs.
      auto fds = worker_fds(l.fds, wp->index, workers_.size());
      asio::post(wp->ctx, [this, wp, spec = l.spec, key = l.key, fds] {
        if (wp->draining.load()) {
          for (int f : fds) ::close(f);
          return;
        }
        std::vector<std::shared_ptr<Acceptor>> started;
        add_acceptors(*wp, spec, key, fds, key_is_v6(key), &started);
        for (auto& a : started) asio::co_spawn(wp->ctx, accept_loop(*wp, a), asio::detached);
      });
    }
    GH_INFO("listening on %s:%u (%s)", l.spec->host.c_str(), l.spec->port, l.spec->kind.c_str());
    next.push_back(std::move(l));
  }
  listeners_ = std::move(next);
  return true;
}

std::vector<InheritedSocket> Server::listening_sockets() const {
  std::lock_guard lk(mu_);
  std::vector<InheritedSocket> out;
  for (const auto& l : listeners_)
    for (int fd : l.fds) out.push_back({l.spec->kind, l.spec->host, l.spec->port, fd});
  return out;
}

// One accepted connection, non-blocking from accept4 itself, handed to Asio
// without the ioctl and the epoll_ctl it would add (net/adopt.h), and whose
// first read waits for epoll rather than failing with EAGAIN. Tries
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
      else read_after_readiness(s);   // its bytes are seldom there yet
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

awaitable<void> Server::accept_loop(Worker& w, std::shared_ptr<Acceptor> a) {
  tcp::acceptor& acc = a->acc;
  asio::steady_timer pause(w.ctx);
  int64_t last_fd_warning = 0;
  for (;;) {
    // Over the limit, leave new connections in the kernel backlog.
    while (open_connections.load(std::memory_order_relaxed) >= max_connections_ &&
           !w.draining.load()) {
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(nothrow);
    }
    if (!acc.is_open()) co_return;   // closed by a reload or the drain
    tcp::endpoint peer;
    auto [ec, sock] = co_await accept_one(w, acc, peer);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        // Out of file descriptors: back off instead of spinning on the ready listener.
        int64_t now = now_ms();
        if (now - last_fd_warning > 5000) {
          GH_WARN("accept on %s: %s; pausing accepts", a->key.c_str(),
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
    asio::co_spawn(w.ctx, handler_(w, std::move(sock), peer, a->spec, ConnectionSlot::adopt(&w)),
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

awaitable<void> Server::drain_loop(Worker& w, int64_t deadline_ms, std::string keep_kind) {
  auto& v = w.acceptors;
  for (auto& a : v) {
    if (!keep_kind.empty() && a->spec->kind == keep_kind) continue;
    error_code ec;
    a->acc.close(ec);
  }
  v.erase(std::remove_if(v.begin(), v.end(), [](const auto& a) { return !a->acc.is_open(); }), v.end());
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
  for (auto& a : w.acceptors) {   // those kept accepting for the drain
    error_code ec;
    a->acc.close(ec);
  }
  w.acceptors.clear();
  w.ctx.stop();
}

void Server::run(Handler handler, std::function<void()> on_ready) {
  handler_ = std::move(handler);
  // The workers do not run yet: their acceptors are this thread's to read.
  for (auto& w : workers_) {
    for (auto& a : w->acceptors) asio::co_spawn(w->ctx, accept_loop(*w, a), asio::detached);
    asio::co_spawn(w->ctx, tick_loop(*w), asio::detached);
  }
  {
    std::lock_guard lk(mu_);
    for (auto& l : listeners_)
      GH_INFO("listening on %s:%u (%s)", l.spec->host.c_str(), l.spec->port, l.spec->kind.c_str());
  }

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
  if (on_ready) on_ready();
  for (auto& t : threads) t.join();
}

void Server::shutdown(std::chrono::milliseconds drain, const std::string& keep_accepting) {
  std::lock_guard lk(mu_);
  if (stopping_.exchange(true)) return;
  // The listeners' own descriptors close now, so once the workers close
  // theirs the sockets are gone and new connections are refused rather
  // than queued unanswered (after an upgrade the new process holds them).
  // (Kept listeners live on in the workers' descriptors: each closes its
  // own when its drain ends, so connections are not left queued on the
  // socket of a worker that stopped.)
  for (auto& l : listeners_) {
    for (int f : l.fds) ::close(f);
    l.fds.clear();
  }
  int64_t deadline = now_ms() + drain.count();
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->draining.store(true);
    asio::co_spawn(wp->ctx, drain_loop(*wp, deadline, keep_accepting), asio::detached);
  }
}

}  // namespace gh::net
