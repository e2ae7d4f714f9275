// One active health probe: connect to a backend, send a small HTTP GET, read
// the response head and judge its status. The whole probe, name resolution
// included, is bounded by one timeout. Used by the HealthChecker; kept apart
// so it can be tested on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "net/asio.h"
#include "upstream/resolver.h"

namespace gh::upstream {

struct ProbeSpec {
  std::string host;                 // name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  std::string host_header;          // Host to send, e.g. "10.0.0.1:8000"
  std::string path = "/";           // origin-form target
  std::chrono::milliseconds timeout{2000};
  unsigned expect_min = 200;        // passing status range, inclusive
  unsigned expect_max = 399;
  // Only check that a TCP connection opens (no request is sent): for a
  // backend that speaks TLS (TLS probes are not built yet) and for `streams`
  // backends, which need not speak HTTP at all.
  bool tls = false;
  bool tcp_only = false;
};

struct ProbeResult {
  bool ok = false;
  int status = 0;                   // HTTP status seen; 0 when none (or TCP-only probe)
  std::string error;                // why it failed, e.g. "connection refused"; empty when ok
  int64_t duration_ms = 0;
};

// The request a probe sends. Accepts any path and Host; refuses (returns an
// empty string) a path that is not origin-form ("/..." without spaces or
// control bytes) or a Host with spaces or control bytes, so that nothing
// the config let through can split the request.
std::string build_probe_request(const std::string& path, const std::string& host_header);

// Runs one probe on the calling coroutine's executor. Accepts any spec; never
// throws. A failure of any kind (name resolution, connect, write, read,
// malformed response, status outside the range, `timeout` exceeded) gives
// ok = false with a short lower-case reason. When the timeout fires, the probe
// answers at once; a name lookup still running then finishes in the
// background and is ignored. `resolver` must belong to the executor's
// io_context and outlive that context's run.
net::awaitable<ProbeResult> run_probe(Resolver& resolver, ProbeSpec spec);

// Short, lower-case text for a connect/read error ("connection refused").
std::string describe_error(const net::error_code& ec);

}  // namespace gh::upstream
