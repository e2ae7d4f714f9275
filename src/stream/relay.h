// One open stream connection: the client socket, the backend socket and the
// byte relay between them. Registered with its StreamWorker while open, so
// the drain deadline can cut it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "net/asio.h"
#include "net/deadlines.h"
#include "stream/stream_proxy.h"

namespace gh::stream {

// A relay direction moves its first bytes by copying (recv into the
// worker's buffer, send), then, past kSpliceAfterBytes, by splice(2)
// through a pipe. A short connection (a TLS handshake and one exchange) so
// never touches a pipe: splice costs two calls per chunk where recv+send
// cost two as well but cheaper ones, and a pipe's pages; a long one pays
// the copy only for its first bytes.
inline constexpr uint64_t kSpliceAfterBytes = 128 * 1024;

// What a copying direction does after a recv of `got` bytes into a buffer
// of `asked`, with `copied` bytes moved so far (this read included):
// splice from now on (copied reached `splice_after`; 0: never), read again
// at once (the read filled the buffer: more is likely there), or wait for
// readiness (a short read emptied the socket; the wait, an EPOLL_CTL_MOD,
// reports whatever came meanwhile, FIN included, so no recv is spent on
// finding EAGAIN).
enum class CopyNext { read_again, wait, splice };
CopyNext after_copy(size_t got, size_t asked, uint64_t copied, uint64_t splice_after);

class Relay {
 public:
  Relay(StreamWorker& w, net::Socket client);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Ends the connection now (drain deadline): both sockets' pending waits
  // are cancelled; the relay unwinds and reports "shutdown".
  void abort();
  // Why the relay was cut (an abort, an error, the idle timeout), or empty.
  std::string_view cut_reason() const { return broken_ ? end_ : std::string_view(); }

  // Connects to one of `s`'s backends: the balancer's pick among the usable
  // ones not tried yet; a refused, failed or timed-out (conf->connect_timeout)
  // connect counts against the backend (passive health) and moves on, at most
  // kMaxTries picks. Fills rec.backend and rec.attempts; false when no
  // backend could be reached or the relay was aborted meanwhile.
  net::awaitable<bool> connect(const StreamRuntime& s, StreamRecord& rec);
  static constexpr unsigned kMaxTries = 4;

  // Writes `bytes` to the connected backend (PROXY header, bytes pre-read
  // from the client) within the idle timeout; false on an error or abort.
  net::awaitable<bool> send_backend(std::string_view bytes, std::chrono::milliseconds limit);

  // Relays both ways until both directions ended with a FIN (each passed on
  // as shutdown(SHUT_WR)), `idle` passed with no byte moving, or an error on
  // either side (both closed). Counts bytes into `rec`, sets rec.end.
  net::awaitable<void> run(std::chrono::milliseconds idle, StreamRecord& rec);

  Relay* next = nullptr;
  Relay* prev = nullptr;

 private:
  struct Direction;
  net::awaitable<void> pump(Direction& d);
  net::awaitable<bool> pump_spliced(Direction& d);
  net::awaitable<bool> pump_copied(Direction& d, uint64_t splice_after);
  net::awaitable<net::error_code> connect_to(const net::tcp::endpoint& ep);
  net::awaitable<bool> write_all(net::Socket& dst, const char* p, size_t n, Direction& d);
  void fail(std::string_view why);
  void touch() {
    if (idle_.count() > 0) deadline_.expire_in(idle_);
  }
  static void on_deadline(void* self);

  StreamWorker& w_;
  net::Socket client_;
  net::Socket backend_;
  net::Deadline deadline_;           // the connect timeout, then the idle timeout
  std::chrono::milliseconds idle_{0};
  bool connecting_ = false;          // the deadline is a connect's
  bool broken_ = false;              // an error, the idle timeout or an abort ended it
  std::string_view end_;             // why, when broken_
};

}  // namespace gh::stream
