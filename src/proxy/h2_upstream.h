// HTTP/2 to backends (route `upstream_protocol: http2`; h2 by ALPN over TLS,
// else h2c with prior knowledge, RFC 9113 3.3/3.4): one connection per
// backend per worker, its streams shared by every request the worker sends
// there (gRPC needs HTTP/2 all the way, and one connection carries many
// calls). A connection runs the sans-I/O client codec with a reader and a
// writer coroutine, like the HTTP/2 front end; a request is an H2UpStream on
// it, with a BodySink for the request body and a BodySource for the
// response body, both under HTTP/2 flow control.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/buffer.h"
#include "core/lent_buffer.h"
#include "http/body.h"
#include "http2/client_connection.h"
#include "net/deadlines.h"
#include "net/stream.h"
#include "proxy/wakeup.h"
#include "upstream/backend.h"

namespace gh::proxy {

class H2UpConn;

// One request's stream on an H2UpConn: what the codec reported for it.
// H2UpStream::error when the backend answered the connection preface in
// HTTP/1 (a route with upstream_protocol: http2 in front of an HTTP/1-only
// server): not an HTTP/2 code, so never confused with one.
inline constexpr uint32_t kNotHttp2 = 0x10000;

struct H2UpStream {
  explicit H2UpStream(net::Executor ex) : wake(ex), writable(ex) {}
  int32_t id = -1;
  bool head = false;                 // the final response head arrived
  http2::HeaderBlock response;       // ... this one
  http2::HeaderBlock interim;        // an interim (1xx) head not yet passed on
  bool has_interim = false;
  core::LentBuffer data;             // response body bytes not yet relayed
  bool end = false;                  // the response is complete
  http2::HeaderBlock trailers;
  std::string trailer_lines;         // the trailers as HTTP/1 field lines
  bool closed = false;               // the codec closed the stream
  uint32_t error = 0;                // its HTTP/2 error code (0: a clean end; kNotHttp2 below)
  Wakeup wake;                       // response events
  Wakeup writable;                   // request body may go on
};

class H2UpConn : public std::enable_shared_from_this<H2UpConn> {
 public:
  // Over `s`, connected (and, for TLS, through a handshake that chose h2).
  H2UpConn(net::Executor ex, net::DeadlineList& deadlines, upstream::Backend* b, net::Stream s,
           std::chrono::milliseconds write_timeout);
  ~H2UpConn();
  // Starts the reader and writer; they keep the connection alive until it ends.
  void start();
  // Takes a new request now: open, not going away, under the server's
  // SETTINGS_MAX_CONCURRENT_STREAMS.
  bool usable() const;
  // Opens a stream for `r` (see ClientConnection::submit_request); -1 when
  // refused. `s` gets its events until forget().
  int32_t open(const http2::ClientConnection::Request& r, bool end_stream, H2UpStream* s);
  // The request is done with its stream: reset it (CANCEL) if still open.
  void forget(H2UpStream& s);
  http2::ClientConnection& codec() { return codec_; }
  void kick() { write_wake_.wake(); }
  // Ends the connection (shutdown, or the worker drops it).
  void close();

 private:
  net::awaitable<void> reader(std::shared_ptr<H2UpConn> self);
  net::awaitable<void> writer(std::shared_ptr<H2UpConn> self);
  void dispatch();
  void fail_all();
  static void on_deadline(void* self);

  net::Executor ex_;
  upstream::Backend* backend_;
  net::Stream stream_;
  http2::ClientConnection codec_;
  std::chrono::milliseconds write_timeout_;
  net::Deadline dl_;
  Wakeup write_wake_;
  core::Buffer in_;
  std::string out_;
  std::unordered_map<int32_t, H2UpStream*> streams_;
  bool dead_ = false;       // the connection is over
  bool not_h2_ = false;     // the backend's first bytes were an HTTP/1 response
  bool read_any_ = false;
  bool draining_ = false;   // no new streams (GOAWAY either way); running ones finish
};

// The request body into an H2UpStream (DATA, then END_STREAM or trailers).
class H2UpSink final : public http::BodySink {
 public:
  H2UpSink(H2UpConn& c, H2UpStream& s, std::chrono::milliseconds timeout)
      : c_(c), s_(s), timeout_(timeout) {}
  net::awaitable<bool> write(const http::BodyBatch& b) override;
  bool holds_head() const override { return false; }
  void cancel() {
    cancelled_ = true;
    s_.writable.wake();
  }

 private:
  H2UpConn& c_;
  H2UpStream& s_;
  std::chrono::milliseconds timeout_;
  bool cancelled_ = false;
};

// The response body from an H2UpStream; its window goes back to the
// backend only as the client takes the bytes.
class H2UpSource final : public http::BodySource {
 public:
  H2UpSource(H2UpConn& c, H2UpStream& s, std::chrono::milliseconds timeout)
      : c_(c), s_(s), timeout_(timeout) {}
  http::RelayStatus take(http::BodyBatch& b) override;
  void consume(const http::BodyBatch& b) override;
  net::awaitable<http::RelayStatus> fill() override;
  void cancel() override {
    cancelled_ = true;
    s_.wake.wake();
  }
  const char* detail() const override { return detail_; }

 private:
  H2UpConn& c_;
  H2UpStream& s_;
  std::chrono::milliseconds timeout_;
  bool cancelled_ = false;
  const char* detail_ = "";
};

// "Name: value\r\n" lines as fields (views into `lines`), at most out.size().
size_t split_field_lines(std::string_view lines, std::span<http::Field> out);

}  // namespace gh::proxy
