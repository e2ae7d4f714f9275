// Small requests gatehouse makes on its own account (forward_auth asks an
// auth service about each request), over the same upstream machinery as
// proxied requests: a Backend, a per-worker Pool of keep-alive connections,
// the DNS cache, connect and TLS to backends (tls::ClientContext). The
// request is a GET without a body; the response is read whole, its head and
// body bounded, and the whole exchange (name lookup, connect, TLS, the
// response) is bounded by one timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "tls/client_context.h"
#include "upstream/backend.h"
#include "upstream/pool.h"
#include "upstream/resolver.h"

namespace gh::upstream {

// One origin as one worker thread reaches it: its backend, its idle
// connections and its DNS cache. Made and used on that worker only (the
// pool has no lock); shared_ptr so that a sub-request still finishing after
// its caller gave up keeps it alive.
struct SubOrigin {
  // `host`: a name or IP literal (IPv6 without brackets); `tls` null for
  // plain HTTP, else the context that verifies the origin.
  SubOrigin(net::asio::io_context& ctx, const std::string& host, uint16_t port,
            std::shared_ptr<tls::ClientContext> tls);
  Backend backend;
  Pool pool;
  Resolver resolver;
  std::shared_ptr<tls::ClientContext> tls;
};

struct SubLimits {
  size_t max_head = 16 * 1024;   // bytes of the response head (status line included)
  size_t max_fields = 100;       // field lines in it
  size_t max_body = 64 * 1024;   // bytes of the response body, after chunked decoding
};

// What came back. `status` 0 means no response: `error` is the RFC 9209
// Proxy-Status error type and `http_status` the one a proxy answers with
// (503 when the origin cannot be reached, 504 for a timeout, 502 for a
// malformed or oversized response).
struct SubResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;   // as received, in order
  std::string body;                                          // chunked coding removed
  int http_status = 0;
  const char* error = "";
  // Short, lower-case, never naming the origin (callers may show it to
  // clients): "connection refused", "no answer within 5000 ms".
  std::string details;
  bool reused = false;       // answered on a kept-alive connection from the pool
};

// Sends `request` (a whole HTTP/1.1 request head for a GET: request line,
// Host, fields, the empty line; the caller makes sure no value holds CR or
// LF) to `origin`, on an idle pooled connection when there is one (a pooled
// connection that proves closed before answering is replaced by a fresh one,
// once), and reads the response (1xx interim responses skipped). Never
// throws. When `timeout` passes, answers at once (504) and abandons the
// exchange: its connection is closed; a name lookup still running ends in
// the background. A connection whose response was read whole and which
// stays open (keep-alive, nothing extra sent) goes back to the pool.
// Must run on the worker that owns `origin`.
// (References, copied inside: GCC 12 mishandles temporaries with destructors
// in a co_await expression, which by-value arguments would be.)
net::awaitable<SubResponse> sub_request(const std::shared_ptr<SubOrigin>& origin,
                                        const std::string& request,
                                        std::chrono::milliseconds timeout, SubLimits limits = {});

}  // namespace gh::upstream
