// One HTTP/2 request stream (RFC 9113 8.1) as a Downstream of the forward
// path: its request head becomes the protocol-neutral exchange, goes
// through the intake rules, routing and the policies, and is forwarded with
// a request body that streams from the stream's DATA frames; the response
// comes back as HEADERS, DATA and trailers, with flow control as
// backpressure both ways. RFC 8441 extended CONNECT (WebSocket) becomes an
// HTTP/1.1 upgrade to the backend and a tunnel over the stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/lent_buffer.h"
#include "http/body.h"
#include "http/trace_context.h"
#include "http2/events.h"
#include "policy/pipeline.h"
#include "proxy/access_log.h"
#include "proxy/client_address.h"
#include "proxy/downstream.h"
#include "proxy/forward.h"
#include "proxy/min_rate.h"
#include "proxy/own_response.h"
#include "proxy/wakeup.h"

namespace gh::proxy {

class H2Connection;

class H2Stream final : public Downstream {
 public:
  H2Stream(H2Connection& c, int32_t id, http2::HeaderBlock head, bool end_stream);
  ~H2Stream();
  // A stream per request: the memory of ended streams is kept per thread
  // (at most kSpareStreams blocks, about 3 KiB each) for the next ones
  // rather than going back to malloc, whose slow path this size takes.
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  // Runs the request to its end (the caller removes the stream after).
  net::awaitable<void> serve();

  // From the connection's reader.
  void on_data(std::string_view bytes, bool end);   // copied; consume()d as forwarded
  void on_trailers(http2::HeaderBlock trailers);
  void on_closed(uint32_t error_code);               // the codec is done with the stream
  void on_writable() { write_wake_.wake(); }
  // The connection is going away: stop everything now.
  void abort();

  // Downstream.
  net::awaitable<bool> send_interim(int status, std::span<const http::Field> fields) override;
  FieldWriter& begin_response(int status, std::string_view reason,
                              const ResponseFraming& framing) override;
  bool keeps_length() const override { return true; }
  http::BodySink& end_response() override;
  bool keeps_connection() const override { return true; }
  net::awaitable<void> send_error(int status, const char* error, std::string_view details,
                                  std::string_view next_hop) override;
  net::awaitable<void> send_intercepted(int status) override;
  void request_delivered() override;
  void close_after_response() override { cut_ = true; }
  net::awaitable<void> tunnel(upstream::UpConn& up, core::Buffer& up_in,
                              net::Deadline& up_dl) override;

 private:
  // The request body as it arrives in DATA frames.
  class Source final : public http::BodySource {
   public:
    explicit Source(H2Stream& s) : s_(s) {}
    http::RelayStatus take(http::BodyBatch& b) override;
    void consume(const http::BodyBatch& b) override;
    net::awaitable<http::RelayStatus> fill() override;
    void cancel() override;
    const char* detail() const override { return detail_; }
    std::chrono::milliseconds timeout{0};
    MinRate rate;                        // limits.request_body_min_rate

   private:
    H2Stream& s_;
    bool cancelled_ = false;
    const char* detail_ = "";
  };
  // The response head and body as HEADERS, DATA and trailers.
  class Sink final : public http::BodySink {
   public:
    explicit Sink(H2Stream& s) : s_(s) {}
    net::awaitable<bool> write(const http::BodyBatch& b) override;
    bool holds_head() const override { return !s_.head_sent_; }

   private:
    H2Stream& s_;
  };
  // Response fields as the forward path decides them, copied into one
  // string (two allocations per response, not two per field).
  class Collector final : public FieldWriter {
   public:
    void add(std::string_view name, std::string_view value) override;
    void clear() {
      bytes_.clear();
      at_.clear();
    }
    // Drops every field named `name` (case-insensitive).
    void erase(std::string_view name);
    // Views of the fields (valid until the next add or clear), appended to `out`.
    void views(std::vector<http::Field>& out) const;

   private:
    struct At {
      uint32_t name, name_len, value, value_len;
    };
    std::string bytes_;
    std::vector<At> at_;
  };

  net::awaitable<void> handle();
  net::awaitable<bool> await_body(uint64_t want, uint64_t limit);
  net::awaitable<bool> receive_whole_body(uint64_t limit);
  net::awaitable<bool> hold_body_prefix(uint64_t want);
  bool submit_head(bool end_stream);
  net::awaitable<bool> send_data(std::string_view bytes);
  bool end_body(std::string_view trailer_lines);
  bool hold_end();
  net::awaitable<void> discard_request_rest();
  net::awaitable<void> send_own(std::span<const http::Field> extra);
  net::awaitable<void> send_answer(const policy::Answer& a);
  net::awaitable<void> send_redirect(std::string location);
  net::awaitable<void> send_error_fields(int status, const char* error, std::string_view details,
                                         std::string_view next_hop,
                                         std::span<const http::Field> extra);
  net::awaitable<void> tunnel_up(upstream::UpConn& up);
  net::awaitable<void> tunnel_down(upstream::UpConn& up, core::Buffer& up_in, net::Deadline& up_dl);
  void finish_log();

  H2Connection& c_;
  const int32_t id_;
  http2::HeaderBlock head_;
  std::shared_ptr<const Runtime> rt_;
  http::RequestHead xreq_;
  std::string norm_path_;
  std::string request_id_;
  http::RequestTrace trace_;          // its traceparent's trace-id, or the trace started for it
  std::string ws_key_;                  // extended CONNECT: the key we make for the backend
  std::string method_;                  // "GET" for extended CONNECT
  std::vector<http::Field> fields_;     // the request's fields, plus a made Sec-WebSocket-Key
  const policy::Pipeline* pipe_ = nullptr;
  policy::Exchange ex_;
  ClientAddress eff_client_;
  LogRecord rec_;
  int64_t start_us_ = 0;
  bool grpc_ = false;                   // Content-Type application/grpc*: errors in gRPC's form
  bool logged_ = false;
  Forwarder fwd_;
  ForwardRequest freq_;

  // Request body: DATA bytes not yet forwarded (consume() gives the window back).
  core::LentBuffer body_;
  bool body_end_ = false;
  bool head_ended_stream_ = false;   // END_STREAM came with HEADERS: no content
  std::string trailer_lines_;           // request trailers as HTTP/1 field lines
  http2::HeaderBlock trailers_;
  uint64_t body_in_ = 0;
  size_t body_acked_ = 0;               // bytes at the front of body_ whose window is back
                                        // (a streamed body: those held for the body phase)
  std::string coded_;                   // a whole body with trailers, chunk-coded for HTTP/1
  Wakeup data_wake_;
  Source source_{*this};

  // Response.
  int status_ = 0;
  bool switching_ = false;              // extended CONNECT answered: the stream is a tunnel
  Collector collector_;
  Sink sink_{*this};
  Wakeup write_wake_;
  OwnResponse own_;
  bool head_sent_ = false;
  bool ended_ = false;                  // END_STREAM submitted
  bool end_held_ = false;               // the response is complete; END_STREAM waits for the request's end
  bool cut_ = false;                    // the response is incomplete: reset the stream
  bool closed_ = false;                 // the codec closed the stream
  uint32_t close_code_ = 0;
  bool response_started_ = false;
  bool tunnel_broken_ = false;
  int64_t last_activity_ms_ = 0;        // the tunnel's last byte either way
  GaugeHold open_;                      // counts it open while it lives
};

}  // namespace gh::proxy
