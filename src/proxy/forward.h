// The forward path of one request, whatever protocol the client speaks:
// pick a backend (balancer, health, retries), get a connection (pool, DNS,
// connect, TLS), send the upstream request (HTTP/1.1), stream the request
// body while the response is awaited, read the response head, apply the
// response field rules and relay the body to the client's Downstream.
// Failures before anything reached the client become a named 5xx
// (RFC 9209 Proxy-Status) or a retry under the one retry rule (retry.h).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "http/exchange.h"
#include "http/trace_context.h"
#include "http1/chunked.h"
#include "http1/parser.h"
#include "net/deadlines.h"
#include "policy/pipeline.h"
#include "proxy/access_log.h"
#include "proxy/cache_exchange.h"
#include "proxy/compress_sink.h"
#include "proxy/downstream.h"
#include "proxy/h2_upstream.h"
#include "proxy/runtime.h"
#include "proxy/worker_state.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"

namespace gh::proxy {

// How one upstream exchange ended, RFC 9209 names.
struct Failure {
  int status = 0;            // 0: no failure
  const char* error = "";    // "connection_refused", ...
  std::string details;
};

// Connection-level failures count against the backend's health; a bad
// response does not say the backend is down.
bool is_connection_failure(const Failure& f);

// The backends one request has tried (the balancer skips them on a retry),
// and how the last try failed.
struct Tries {
  std::array<upstream::Backend*, 8> tried{};
  size_t n = 0;
  upstream::Backend* last = nullptr;
  Failure failure{503, "destination_unavailable", "no healthy backend for this route"};
  // The next backend for this request, or null when none is left.
  upstream::Backend* pick(upstream::Balancer& bal, uint64_t client_hash);
};

// A request in flight at a backend for the guard's lifetime (least_conn).
struct InFlight {
  explicit InFlight(upstream::Backend* b) : b_(b) {
    b_->requests.fetch_add(1, std::memory_order_relaxed);
    b_->in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~InFlight() { b_->in_flight.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  upstream::Backend* b_;
};

// One request as the forward path needs it. The downstream owns all of it
// for the exchange's duration; `head`'s views hold until the body source's
// first consume() (the forward path copies what it needs later).
struct ForwardRequest {
  const Runtime* rt = nullptr;
  size_t route_index = 0;
  const http::RequestHead* head = nullptr;
  const ClientInfo* client = nullptr;
  const policy::Pipeline* pipeline = nullptr;
  policy::Exchange* ex = nullptr;            // the request's own field edits (the cache adds some)
  std::string_view client_host;              // Host / :authority, a copy that outlives `head`
  std::string_view request_id;
  const http::RequestTrace* trace = nullptr; // its trace context (server.traceparent); null: fields pass as they are
  std::string_view upgrade;                  // the protocol the client asks to switch to, or empty
  std::string_view ws_key;                   // Sec-WebSocket-Key, to check the backend's accept
  // Only a switch of protocols answers the request (an HTTP/2 extended
  // CONNECT, RFC 8441: a 2xx would tell the client its tunnel is open).
  bool upgrade_required = false;
  bool is_head = false;
  uint64_t client_hash = 0;                  // for ip_hash balancing
  RequestBody body;
  LogRecord* rec = nullptr;                  // status, proxy_status, bytes_sent, upstream_ms are set
  uint64_t body_in = 0;                      // in: body bytes already received; out: all received
  bool body_read = false;                    // out: a streamed body was read to its end, or the client left
  // A background revalidation of a stored response (stale-while-revalidate),
  // with no client: it revalidates and stores, never serves from the store.
  bool cache_refresh = false;
};

class Forwarder {
 public:
  Forwarder(WorkerState& ws, net::Executor ex);
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Forwards `req` and answers `down` (with the backend's response, a
  // stored one on a cached route (docs/caching.md), or a proxy-made error). Returns false when the client's connection cannot
  // carry another request (the downstream was also told so).
  net::awaitable<bool> forward(ForwardRequest& req, Downstream& down);
  // Gives the backend connection back to the pool (when `reusable`) or
  // closes it. Safe to call when there is none.
  void release(bool reusable);
  // Stops what waits on the backend now (the client went away, e.g. an
  // HTTP/2 RST_STREAM): the forward in progress fails fast, answers nobody,
  // logs 499, and neither retries nor counts it against the backend.
  void cancel();
  // The backend the last request went to (for the log), or null.
  upstream::Backend* backend() const { return backend_; }

 private:
  // The upstream exchange (the try loop), whether or not the route caches.
  net::awaitable<bool> forward_upstream();
  net::awaitable<Failure> connect(const RouteRuntime& rr, upstream::Backend* b);
  net::awaitable<Failure> tls_handshake(const RouteRuntime& rr, upstream::Backend* b);
  net::awaitable<bool> read_response_head(Failure& f);
  net::awaitable<bool> relay_response(const RouteRuntime& rr, upstream::Backend& b);
  net::awaitable<void> pump_request_body(http::BodySink& sink);
  net::awaitable<void> stop_pump();
  void append_upstream_target(const RouteRuntime& rr, std::string& out) const;
  std::string_view upstream_authority(const RouteRuntime& rr, const upstream::Backend& b,
                                      std::string& tmp);
  void write_upstream_fields(FieldWriter& w);
  void build_upstream_head(const RouteRuntime& rr, const upstream::Backend& b);
  void retarget_upstream_head(const RouteRuntime& rr, const upstream::Backend& b);
  // `coded`: the compress policy's choice (Content-Encoding added, length,
  // Accept-Ranges dropped, Vary merged, a strong ETag made weak).
  void write_response_fields(const RouteRuntime& rr, const upstream::Backend& b, FieldWriter& w,
                             bool keep_length, std::span<const http::Field> fields,
                             const policy::CompressChoice& coded = {});
  // The backend's response head to the downstream, for both upstream
  // protocols: the compress policy decides on it, the head begins with `fr`
  // (its length unknown when the body is coded) and its fields, and the
  // sink returned takes the body (coding it when compressing).
  http::BodySink& begin_downstream_response(const RouteRuntime& rr, const upstream::Backend& b,
                                            int status, std::string_view reason,
                                            ResponseFraming fr,
                                            std::span<const http::Field> fields,
                                            std::optional<uint64_t> length);
  // Bytes the client got of a relayed body (coded when compressed); ends
  // the coding of this response.
  uint64_t end_downstream_body(const http::RelayOutcome& o);
  // HTTP/2 to the backends (forward_h2.cc).
  net::awaitable<bool> forward_h2(const RouteRuntime& rr);
  net::awaitable<bool> wait_h2_head(H2UpStream& st, Failure& f);
  net::awaitable<bool> relay_h2_response(const RouteRuntime& rr, upstream::Backend& b,
                                         H2UpConn& conn, H2UpStream& st);
  static void on_up_deadline(void* self);

  // The cache (forward_cache.cc). forward_cached: lookup, serve, or go
  // upstream (collapsed, revalidating); the rest are the forward path's hooks.
  net::awaitable<bool> forward_cached(const policy::CacheRule& rule);
  net::awaitable<bool> forward_filling(const policy::CacheRule& rule);
  net::awaitable<bool> wait_for_fill(const policy::CacheRule& rule,
                                     std::shared_ptr<policy::CacheRule::Fill> fill);
  // The upstream response head on a cached route: decides storing (and
  // tees the body), invalidation, and whether the stored response answers
  // instead (a 304 that revalidated it, or stale-if-error): true then, and
  // the caller drops the upstream response and calls serve_stored.
  bool cache_on_head(int status, std::span<const http::Field> fields,
                     std::optional<uint64_t> length);
  // Answers the client from cx_.entry (hit, revalidated, stale): 200, 304
  // to a matching conditional, 206/416 for a Range, HEAD without a body.
  // `delivered`: the upstream exchange already told the downstream the
  // request was delivered.
  net::awaitable<bool> serve_stored(const RouteRuntime& rr, bool delivered);
  // The upstream exchange failed: the stale response when stale-if-error
  // allows, else the error with Cache-Status.
  net::awaitable<bool> cache_failed(const Failure& f, std::string_view hop);
  // After the body relay: the pending entry goes into the store when whole.
  void cache_commit(const http::RelayOutcome& o);
  // Ends the fetch this request leads (waiters wake).
  void cache_finish_fill(bool stored);
  void start_cache_refresh();
  void begin_tries();
  // After a response body relay: the access log's Proxy-Status for a cut
  // body, the backend's health when it broke it. False: the client's
  // connection cannot carry another response.
  bool note_relay_outcome(const http::RelayOutcome& o, upstream::Backend& b, size_t backends);

  WorkerState& ws_;
  net::Executor ex_;
  ForwardRequest* req_ = nullptr;
  Downstream* down_ = nullptr;
  std::unique_ptr<upstream::UpConn> up_;
  core::Buffer up_in_;                       // bytes from the backend
  net::Deadline up_dl_;
  http1::ResponseHead resp_;
  http1::ParseError perr_;
  http1::ChunkedDecoder resp_chunks_;
  std::optional<CompressSink> coder_;        // the response body's coding (compress policy)
  std::string out_;                          // the upstream head
  http::BodyBatch first_batch_;             // what goes with the head on a try
  std::string scratch_;                      // generated field values
  std::string scratch2_;                     // an edited response field value
  std::string te_restated_;                  // the transfer codings that stay applied, chunked last
  std::vector<net::tcp::endpoint> endpoints_;
  upstream::Backend* backend_ = nullptr;
  bool client_gone_ = false;                 // cancel() was called for this request
  H2UpStream* h2_stream_ = nullptr;          // the HTTP/2 upstream stream being waited on
  http::BodySource* h2_source_ = nullptr;    // ... and its response body being relayed
  std::string method_;                       // the request's method, after its head is released
  std::string target_;                       // HTTP/2 upstream: :path
  std::string trailer_copy_;                 // HTTP/2 upstream: a whole body's trailers
  bool authority_sent_ = false;              // the head carried the client's authority (preserve_host)

  // The request body streaming upstream (RequestBody::Kind::stream).
  net::asio::steady_timer* pump_waiter_ = nullptr;
  bool pump_running_ = false;
  bool pump_failed_ = false;               // client or upstream broke while sending the body
  bool pump_client_gone_ = false;          // the client vanished mid-body
  bool pump_stopping_ = false;             // stop_pump cancelled it: its read errors are ours
  bool pump_wrote_ = false;                // the pump tried to write body bytes upstream
  bool pump_waiting_client_ = false;       // the pump waits for the client's body bytes
  int pump_status_ = 0;                    // 413/408/400 when the client was at fault
  const char* pump_detail_ = "";
  bool close_client_ = false;              // the client's connection must close after this
  H2UpSink* h2_sink_ = nullptr;            // HTTP/2 upstream: the pump's sink (to cancel it)

  CacheExchange cx_;                         // the request's cache state (cached routes)
  std::optional<CacheTee> tee_;              // the body on its way into the store
  std::shared_ptr<net::asio::steady_timer> fill_wait_;   // waiting for another request's fetch
  std::vector<http::Field> serve_fields_;    // a stored response's fields as sent
  std::string serve_len_;                    // ... its Content-Length value
  std::string serve_range_;                  // ... its Content-Range value
  std::string serve_age_;                    // ... its Age value
  std::string serve_etag_;                   // ... a 304's ETag, weak as its coded 200's
  std::string serve_vary_;                   // ... a 304's Vary, with Accept-Encoding as its 200's
};

}  // namespace gh::proxy
