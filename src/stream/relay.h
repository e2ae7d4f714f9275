// One open stream connection: the client socket, the backend socket and the
// byte relay between them. Registered with its StreamWorker while open, so
// the drain deadline can cut it.
#pragma once

#include <cstdint>
#include <string_view>

#include "net/asio.h"
#include "net/deadlines.h"
#include "stream/stream_proxy.h"

namespace gh::stream {

class Relay {
 public:
  Relay(StreamWorker& w, net::Socket client);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Ends the connection now (drain deadline): both sockets' pending waits
  // are cancelled; the relay unwinds and reports `end` as "shutdown".
  void abort();

  // Connects `backend_socket` to one of `s`'s backends (balancer, skipping
  // the ones tried; refused or timed-out connects move on to the next, at
  // most `max_tries` in all). Fills rec.backend and rec.attempts; false when
  // no backend could be reached (or the relay was aborted meanwhile).
  net::awaitable<bool> connect(const StreamRuntime& s, StreamRecord& rec);

  // Writes `bytes` to the backend (PROXY header, pre-read client bytes);
  // false on a write error or abort.
  net::awaitable<bool> send_backend(std::string_view bytes);

  // Relays both ways until done (see serve_stream); counts bytes into `rec`
  // and sets rec.end.
  net::awaitable<void> run(const StreamRuntime& s, StreamRecord& rec);

  Relay* next = nullptr;
  Relay* prev = nullptr;

 private:
  struct Direction;
  net::awaitable<void> pump(Direction& d);
  net::awaitable<bool> pump_spliced(Direction& d);
  net::awaitable<void> pump_copied(Direction& d);
  void fail(std::string_view why);
  static void on_deadline(void* self);

  StreamWorker& w_;
  net::Socket client_;
  net::Socket backend_;
  net::Deadline deadline_;           // connect timeout, then the idle timeout
  std::chrono::milliseconds idle_{0};
  bool broken_ = false;              // an error, the idle timeout or an abort ended it
  bool connecting_ = false;
  std::string_view end_;             // why it ended, when broken_
};

}  // namespace gh::stream
