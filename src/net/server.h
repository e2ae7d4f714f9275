// Worker threads, listeners and graceful shutdown. Each worker runs one
// io_context (concurrency hint 1: no locking inside Asio) and owns one
// SO_REUSEPORT acceptor per listener, so the kernel spreads connections and
// nothing on the accept or request path is shared between threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
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
  std::string kind;   // "http", "https", "admin": shown in the ready line and passed to handlers
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
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
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
  using Handler = std::function<awaitable<void>(Worker&, Socket, tcp::endpoint peer,
                                                const ListenerSpec&, ConnectionSlot)>;

  Server(unsigned workers, uint64_t max_connections);
  ~Server();

  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

  // Binds the listener on every worker. Returns false with a message in `err`
  // (address in use, permission, bad address); accepts IPv4/IPv6 literals and
  // "localhost"/"0.0.0.0"/"::".
  bool listen(const ListenerSpec& spec, std::string& err);

  // Starts the workers, logs one ready line per listener, and blocks until
  // shutdown() has drained them.
  void run(Handler handler);

  // From any thread: stop accepting, let in-flight requests finish for up to
  // `drain`, then stop. Idempotent.
  void shutdown(std::chrono::milliseconds drain);

  // Process-wide open connection count (max_connections is enforced on it).
  static std::atomic<uint64_t> open_connections;

 private:
  awaitable<void> accept_loop(Worker& w, tcp::acceptor& acc, size_t spec_index);
  awaitable<void> tick_loop(Worker& w);
  awaitable<void> drain_loop(Worker& w, int64_t deadline_ms);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<ListenerSpec> specs_;
  Handler handler_;
  uint64_t max_connections_;
  std::atomic<bool> stopping_{false};
};

}  // namespace gh::net
