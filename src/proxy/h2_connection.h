// One HTTP/2 client connection (RFC 9113): the sans-I/O codec of
// src/http2 run over the connection's stream by two coroutines, a reader
// (bytes in, events dispatched to the streams) and a writer (the codec's
// output out, one write at a time), and one coroutine per request stream
// (h2_stream.h) that runs it through routing, the policies and the forward
// path like an HTTP/1 request. Everything runs on the worker's thread.
//
// Bounds: the codec's (src/http2/connection.h: windows, send queues, the
// abuse budgets that end the connection), plus per stream a request body
// buffer of at most the stream window. A connection with no open stream
// for timeouts.keepalive (timeouts.client_header before its first) is
// closed with GOAWAY; so is one whose client stops reading for
// timeouts.client_body while we have bytes for it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/buffer.h"
#include "http2/server_connection.h"
#include "net/deadlines.h"
#include "net/server.h"
#include "net/stream.h"
#include "proxy/downstream.h"
#include "proxy/wakeup.h"
#include "proxy/worker_state.h"

namespace gh::proxy {

class H2Stream;

class H2Connection {
 public:
  H2Connection(WorkerState& ws, net::Stream s, ClientInfo ci, net::ConnectionSlot slot);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Serves the connection until it ends. `already`: bytes read before the
  // connection was known to be HTTP/2 (the start of the preface).
  net::awaitable<void> run(std::string already);

  // Draining: GOAWAY now; streams in progress finish, then the connection closes.
  void on_drain();
  // The drain time is over: every stream and the connection end now.
  void abort();

  // For the streams.
  WorkerState& ws() { return ws_; }
  const ClientInfo& client() const { return client_; }
  http2::ServerConnection& codec() { return *codec_; }
  net::Executor executor() { return ex_; }
  // Output is pending in the codec: wake the writer.
  void kick() { write_wake_.wake(); }
  int64_t started_us() const { return started_us_; }

  H2Connection* next = nullptr;   // in WorkerState's list, for draining
  H2Connection* prev = nullptr;

 private:
  net::awaitable<void> writer();
  void dispatch_events();
  void start_stream(http2::Event& ev);
  void refuse_head(int32_t id, int status);
  void finish_stream(int32_t id);
  void stop_when_drained();
  void arm_idle_deadline();
  static void on_deadline(void* self);

  WorkerState& ws_;
  net::Stream stream_;
  ClientInfo client_;
  net::ConnectionSlot slot_;
  net::Executor ex_;
  std::shared_ptr<const Runtime> rt_;     // the snapshot the connection started with (limits)
  std::optional<http2::ServerConnection> codec_;
  core::Buffer in_;
  std::string out_;                       // a copy of the codec's output being written
  net::Deadline dl_;
  Wakeup write_wake_;
  Wakeup streams_done_;
  std::unordered_map<int32_t, std::unique_ptr<H2Stream>> streams_;
  size_t live_ = 0;                       // stream coroutines still running
  int64_t started_us_ = 0;
  bool served_any_ = false;
  bool stopping_ = false;                 // no more reading; the writer ends when flushed
  bool writer_running_ = false;
  bool write_failed_ = false;
  bool timed_out_ = false;
  bool writing_ = false;                  // the deadline is the write's, not the idle one
};

}  // namespace gh::proxy
