// Worker threads, listeners and graceful shutdown. Each worker runs one
// io_context (concurrency hint 1: no locking inside Asio) and owns one
// SO_REUSEPORT acceptor per listener, so the kernel spreads connections and
// nothing on the accept or request path is shared between threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "net/deadlines.h"

namespace gh::net {

struct ListenerSpec {
  std::string host;
  uint16_t port = 0;
  std::string kind;   // "http", "https", "admin", "stream": shown in the ready line and passed to handlers
};

// A listening socket handed over by the process that started this one
// (binary upgrade, net/inherit.h): its listener's kind and address as that
// process had them, and the descriptor number in this process.
struct InheritedSocket {
  std::string kind;
  std::string host;
  uint16_t port = 0;
  int fd = -1;
};

// One worker's acceptor of one listener. The spec is swapped (on the
// worker's thread) when a reload changes the listener's kind.
struct Acceptor {
  explicit Acceptor(asio::io_context& ctx) : acc(ctx) {}
  tcp::acceptor acc;
  std::string key;                              // the listener's bound address, "ip:port"
  std::shared_ptr<const ListenerSpec> spec;
};

class Worker {
 public:
  // One thread per io_context, and sockets never cross threads: no locking
  // around socket operations (the scheduler keeps its lock, for Asio's
  // resolver thread and for shutdown()).
  explicit Worker(unsigned index) : index(index), ctx(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO) {}
  const unsigned index;
  asio::io_context ctx;
  DeadlineList deadlines;          // ticked every 100 ms
  std::atomic<bool> draining{false};
  size_t connections = 0;          // open client connections on this worker
  std::function<void()> on_drain;  // set by the layer above: close idle connections
  std::function<void()> on_tick;   // set by the layer above: periodic flushes (every 100 ms)
  // Set by the layer above: the drain time is over, end every connection now
  // (cancel its I/O) so each unwinds while the layer's state still exists.
  std::function<void()> on_abort;
  std::vector<std::shared_ptr<Acceptor>> acceptors;   // this worker's thread only
};

// Counts one open client connection (per worker and per process) for as
// long as it lives; moves with the connection, e.g. into a parked state.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(Worker* w);
  // Takes over a process-wide count the caller already added.
  static ConnectionSlot adopt(Worker* w);
  ConnectionSlot(ConnectionSlot&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&& o) noexcept {
    if (this != &o) {
      release();
      w_ = std::exchange(o.w_, nullptr);
    }
    return *this;
  }
  ~ConnectionSlot() { release(); }
  void release();

 private:
  Worker* w_ = nullptr;
};

class Server {
 public:
  // Called once per accepted connection, on the accepting worker's thread.
  // The slot counts the connection until the handler lets it go.
  // `peer` is the client's address as accept returned it (no extra syscall).
  // The handler holds the listener's spec for as long as it needs it (a
  // reload may swap the acceptor's spec meanwhile).
  using Handler = std::function<awaitable<void>(Worker&, Socket, tcp::endpoint peer,
                                                std::shared_ptr<const ListenerSpec>,
                                                ConnectionSlot)>;

  Server(unsigned workers, uint64_t max_connections);
  ~Server();

  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

  // Sockets inherited from the previous process (before the first listen()):
  // listen() takes every one bound to its address instead of binding anew.
  void set_inherited(std::vector<InheritedSocket> sockets);
  // Closes the inherited sockets no listen() took (their listener is gone
  // from the config); returns how many.
  size_t close_unused_inherited();

  // Binds the listener on every worker (before run()). Returns false with a
  // message in `err` (address in use, permission, bad address, the same
  // address twice); accepts IPv4/IPv6 literals and "localhost"/"0.0.0.0"/"::".
  bool listen(const ListenerSpec& spec, std::string& err);

  // After run() started, from one control thread at a time (a reload):
  // makes the listeners exactly `wanted`. Listeners on a new address are
  // bound on every worker and accept at once; those whose address is gone
  // are closed (connections they accepted run on); a listener whose kind
  // changed keeps its sockets and hands new connections to the new kind;
  // the rest are untouched. All or nothing: when an address cannot be
  // bound (or is bad), nothing changes and `err` says why. `before_commit`
  // runs once the new addresses are bound and before any listener changes
  // (a reload publishes its snapshot there, so an https listener never
  // meets a snapshot without certificates).
  bool apply_listeners(const std::vector<ListenerSpec>& wanted, std::string& err,
                       const std::function<void()>& before_commit = {});

  // The listening sockets, for a binary upgrade to pass on: every socket of
  // every listener (one per worker, more when inherited so), with its spec.
  // The descriptors stay owned by the server (close-on-exec set).
  std::vector<InheritedSocket> listening_sockets() const;

  // Starts the workers, logs one ready line per listener, calls `on_ready`
  // (on this thread) once the workers run, and blocks until shutdown() has
  // drained them.
  void run(Handler handler, std::function<void()> on_ready = {});

  // From any thread: stop accepting, let in-flight requests finish for up to
  // `drain`, then stop. Idempotent. Listeners of kind `keep_accepting`
  // (e.g. "admin", so health checks see the drain) accept until the end.
  void shutdown(std::chrono::milliseconds drain, const std::string& keep_accepting = {});

  // True once shutdown() was called (e.g. /healthz answers 503 then).
  bool draining() const { return stopping_.load(std::memory_order_relaxed); }

  // Process-wide open connection count (max_connections is enforced on it).
  static std::atomic<uint64_t> open_connections;

 private:
  // A listener as the control side sees it: the sockets it owns (workers
  // accept on duplicates of them, so a worker closing its acceptor and the
  // listener being passed on in an upgrade do not interfere).
  struct Listener {
    std::shared_ptr<const ListenerSpec> spec;
    std::string key;
    std::vector<int> fds;
  };
  bool open_listener(const ListenerSpec& spec, Listener& out, std::string& err);
  void start_acceptors(Worker& w, const Listener& l);
  awaitable<void> accept_loop(Worker& w, std::shared_ptr<Acceptor> a);
  awaitable<void> tick_loop(Worker& w);
  awaitable<void> drain_loop(Worker& w, int64_t deadline_ms, std::string keep_kind);

  std::vector<std::unique_ptr<Worker>> workers_;
  mutable std::mutex mu_;                 // listeners_, inherited_
  std::vector<Listener> listeners_;
  std::vector<InheritedSocket> inherited_;
  bool running_ = false;
  Handler handler_;
  uint64_t max_connections_;
  std::atomic<bool> stopping_{false};
};

}  // namespace gh::net
