// The admin listener's tiny HTTP/1.1 server: one connection, keep-alive,
// strict parsing (the same parser as the proxy), bounded waits, small
// answers made by a handler. It serves operators, not the public, so it
// reads no request bodies and keeps no state between requests.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "net/stream.h"

namespace gh::admin {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. Allow
};

// Gets the request method, the path, the query (after "?", empty when
// none) and the Authorization field's value (empty when absent; a request
// with two is refused with 400 before it gets here); must not throw (a
// throw becomes a 500).
using Handler = std::function<Response(std::string_view method, std::string_view path,
                                       std::string_view query, std::string_view authorization)>;

// POST /cache/purge (docs/caching.md): exactly one of `url` (an absolute
// http/https URL: every variant of it in every route's store) or `route` (a
// route's path: everything its store holds).
struct PurgeRequest {
  std::string url;
  std::string route;
};
struct PurgeResult {
  int status = 200;          // 400: a URL that is not one; 404: no cached route with that path
  uint64_t purged = 0;       // stored responses removed
  std::string error;         // why, when status is not 200
};
using PurgeFn = std::function<PurgeResult(const PurgeRequest&)>;

struct ServeOptions {
  std::chrono::milliseconds idle_timeout{30000};    // waiting for the next request
  std::chrono::milliseconds header_timeout{10000};  // first byte to end of the request head
  std::chrono::milliseconds write_timeout{10000};   // writing one response
  size_t max_head = 8 * 1024;                       // request head bytes; over it: 431
  unsigned max_requests = 1000;                     // per connection, then Connection: close
  // Graceful shutdown (e.g. &Worker::draining): once true, idle connections
  // close within ~100 ms and a request in progress is answered with
  // Connection: close. Null: not watched. Must outlive the connection.
  const std::atomic<bool>* stop = nullptr;
};

// Serves requests on `s` until the client closes, asks to close, a wait
// runs past its timeout, or the request is bad. Accepts HTTP/1.0 and 1.1,
// pipelined requests, any method (the handler decides). Refuses with the
// parser's status (400, 414, 431, 501, 505) and closes: malformed or
// oversized heads. A request with a body is answered and the connection
// then closed (bodies are not read). HEAD answers carry no body. Never
// throws; the stream is closed when it returns. `s` must be ready for
// application bytes (a TLS handshake, if any, already done).
net::awaitable<void> serve_admin(net::Stream s, Handler handler, ServeOptions opt = {});

// The admin routes: GET/HEAD "/" -> the dashboard page (admin/dashboard.h);
// "/status" -> 200 application/json from
// status_json(); "/healthz" -> 200 "ok"; POST "/cache/purge?url=U" or
// "?route=P" -> `purge` (200 {"purged": N}; 400 without exactly one of them;
// 503 when `purge` is null); any other path -> 404; other methods on a
// known path -> 405 with Allow. A null status_json gives 503 on /status.
// In the query, `url=` takes the rest of it (so a URL's own "?a=1&b=2"
// needs no escaping); a value starting "http%3A"/"https%3A" is
// percent-decoded once. `route=` runs to the next "&" and is
// percent-decoded. GET/HEAD "/metrics" -> 200 in the Prometheus text
// format 0.0.4 from `metrics` (docs/operations.md, "Metrics"); 503 when
// `metrics` is null.
Handler make_admin_handler(std::function<std::string()> status_json, PurgeFn purge = nullptr,
                           std::function<std::string()> metrics = nullptr);

// Wraps an admin handler so that GET/HEAD /healthz answers 503 "draining"
// while draining() is true (a shutdown or an upgrade's handover: load
// balancers stop sending here); everything else goes to `inner`.
Handler health_follows_drain(Handler inner, std::function<bool()> draining);

}  // namespace gh::admin
