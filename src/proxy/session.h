// One HTTP/1 client connection: reads requests, routes them, runs the
// request policies, and hands each request to the forward path (forward.h)
// as its Downstream, until the client or a limit ends it. All of a
// connection's state lives here; nothing is shared with other connections.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/buffer.h"
#include "core/cidr.h"
#include "http/trace_context.h"
#include "http1/chunked.h"
#include "http1/parser.h"
#include "net/close_watch.h"
#include "net/deadlines.h"
#include "net/stream.h"
#include "policy/pipeline.h"
#include "proxy/access_log.h"
#include "proxy/body_http1.h"
#include "proxy/client_address.h"
#include "proxy/downstream.h"
#include "proxy/forward.h"
#include "proxy/own_response.h"
#include "proxy/worker_state.h"

namespace gh::proxy {

class Session final : public Downstream {
 public:
  Session(WorkerState& ws, net::Stream s, ClientInfo info);
  ~Session();
  // Serves requests until the connection ends (closed), goes idle long
  // enough to be parked (park: take_stream() and park it), or turns out to
  // speak HTTP/2 (http2: ALPN h2, or the preface on a plain listener;
  // take_stream() and take_input() for H2Connection).
  enum class RunEnd { closed, park, http2 };
  net::awaitable<RunEnd> run();
  net::Stream take_stream() { return std::move(down_); }
  std::string take_input();
  ClientInfo take_client() { return std::move(client_); }
  int64_t idle_until_ms() const { return idle_until_ms_; }
  bool served_any() const { return rec_.status != 0 || start_us_ != 0; }

  // Draining: idle sessions close now, busy ones after the current response.
  void on_drain();
  // The drain time is over: the client's and the backend's I/O is cancelled.
  void abort() {
    closing_ = true;
    down_.cancel();
    fwd_.cancel();
  }
  Session* next_session = nullptr;
  Session* prev_session = nullptr;

 private:
  enum class HeadResult { ok, closed, answered, park, http2 };
  net::awaitable<HeadResult> read_request_head();
  net::awaitable<bool> handle_request();           // false: close the connection
  net::awaitable<bool> forward(size_t route_index);
  enum class BodyWait { complete, stream, answered };
  net::awaitable<BodyWait> receive_request_body();
  // The request body phase (policy.h): pass (forward), or answered (the
  // client got the policy's answer or an error; keep says whether the
  // connection stays open).
  enum class BodyCheck { pass, answered_keep, answered_close };
  net::awaitable<BodyCheck> check_request_body(BodyWait bw);
  net::awaitable<bool> hold_body_prefix(uint64_t want, std::string_view& held, bool& complete);
  net::awaitable<bool> read_body_bytes();   // false: answered 408 or the client went away
  void reparse_head();
  void fill_exchange();
  net::awaitable<void> pipe(net::Stream& src, core::Buffer& buf, net::Stream& dst,
                            net::Deadline& up_dl);
  net::awaitable<void> send_error_fields(int status, const char* error, std::string_view details,
                                         std::string_view next_hop,
                                         std::span<const http::Field> extra);
  net::awaitable<void> send_answer(const policy::Answer& a);
  net::awaitable<void> send_redirect(std::string_view location);
  net::awaitable<void> send_own(std::span<const http::Field> extra);
  net::awaitable<policy::Verdict> run_request_policies(const policy::Pipeline& p);
  net::awaitable<bool> write_down(std::string_view a, std::string_view b = {});
  bool skip_request_body();
  void begin_unparsed_exchange();
  void finish_log();
  net::awaitable<void> linger_close();

  // Downstream: how the forward path answers this connection's client.
  net::awaitable<bool> send_interim(int status, std::span<const http::Field> fields) override;
  FieldWriter& begin_response(int status, std::string_view reason,
                              const ResponseFraming& framing) override;
  bool keeps_length() const override { return !chunk_out_; }
  http::BodySink& end_response() override;
  bool keeps_connection() const override { return !closing_; }
 public:
  net::awaitable<void> send_error(int status, const char* error, std::string_view details,
                                  std::string_view next_hop = {}) override;
 private:
  net::awaitable<void> send_intercepted(int status) override;
  void request_delivered() override;
  void close_after_response() override { closing_ = true; }
  net::awaitable<void> tunnel(upstream::UpConn& up, core::Buffer& up_in,
                              net::Deadline& up_dl) override;
  void watch_client(bool on) override;
  size_t request_bytes() const;

  static void on_down_deadline(void* self);
  static void on_client_closed(void* self);

  WorkerState& ws_;
  net::Stream down_;
  ClientInfo client_;
  std::shared_ptr<const Runtime> rt_;      // snapshot of the current request
  core::Buffer in_;                        // bytes from the client
  core::Buffer up_in_;                     // bytes from the backend
  http1::RequestHead req_;
  http1::ResponseHead resp_;
  http::RequestHead xreq_;                 // req_ as the policies see it (protocol-neutral)
  policy::Exchange ex_;                    // the policies' per-request state
  const policy::Pipeline* pipe_ = nullptr; // the route's policies, or the server's before routing
  ClientAddress eff_client_;               // the client as the policies see it
  http1::ParseError perr_;
  std::string out_;                        // serialized heads
  std::string scratch_;                    // paths, rewritten values
  net::Deadline down_dl_;
  // The client's close while the response head is awaited (watch_client);
  // after down_, so it stops before the socket goes.
  net::CloseWatch client_watch_;
  bool watch_due_ = false;                 // down_dl_ starts client_watch_ when it fires
  bool pipelining_ = false;                // the client sent a request before its previous one's answer
  Forwarder fwd_;                          // the forward path of the current request
  ForwardRequest freq_;                    // what it forwards
  std::optional<Http1BodySource> body_src_;   // a streamed request body
  std::optional<Http1BodySink> resp_sink_;    // the response body
  FieldLines lines_;
  OwnResponse own_;                        // a response gatehouse makes itself
  bool chunk_out_ = false;                 // the response body goes chunk-coded
  bool switching_ = false;                 // the response is a 101
  std::string_view upgrade_to_;            // its protocol (views into the backend's head,
  std::string_view te_other_;              // valid from begin_response to end_response)
  bool idle_ = false;                      // waiting for a request head's first byte
  bool parking_ = false;                   // the idle read was cancelled to park
  int64_t idle_until_ms_ = 0;              // keep-alive (or first head) deadline while idle
  static constexpr int64_t kParkAfterMs = 500;
  bool drain_seen_ = false;                // on_drain() gave the idle wait its grace
 public:
  static constexpr size_t kManyConnections = 256;   // above: park as soon as idle
 private:
  bool closing_ = false;                   // close after the current response

  // Per request. Copies of head fields that outlive the head's bytes.
  std::string request_id_;
  http::RequestTrace trace_;               // its traceparent's trace-id, or the trace started for it
  std::string m_method_, m_path_, m_host_, m_ua_, m_referer_, m_ws_key_;
  std::string norm_path_;                  // req_.path in http::normalize_path form: what routing sees
  bool is_head_ = false;
  int client_minor_ = 1;
  bool client_keep_alive_ = true;
  bool upgrade_requested_ = false;
  std::string m_upgrade_;
  uint64_t client_hash_ = 0;
  const config::Route* route_ = nullptr;
  upstream::Backend* backend_ = nullptr;
  http1::ChunkedDecoder req_chunks_;
  // The request (its body, or a head answered 400/408) has not been read to
  // its end: closing now would reset a client that is still sending, losing
  // the response (lingering close).
  bool body_unread_ = false;
  // How the upstream request carries the body.
  enum class UpBody : uint8_t {
    as_received,   // the client's framing; what is in in_ after the head, then the pump
    buffered,      // whole, in in_ after the head (Content-Length as received)
    rebuilt,       // whole, re-framed in body_ (a chunked body received whole)
  };
  UpBody up_body_ = UpBody::as_received;
  bool up_body_chunked_ = false;           // rebuilt with trailers: body_ is chunk-coded
  size_t raw_body_size_ = 0;               // bytes of in_ after the head that the body used
  std::string body_;                       // a rebuilt body
  bool sent_continue_ = false;             // gatehouse answered the client's 100-continue itself
  bool tunnel_broken_ = false;
  bool response_started_ = false;          // some response bytes reached the client
  uint64_t body_in_ = 0;
  LogRecord rec_;
  int64_t start_us_ = 0;            // steady clock, for durations in the log
};

}  // namespace gh::proxy
