// What the proxy counts for GET /metrics (docs/operations.md, "Metrics").
// Every worker has its own WorkerMetrics and is the only writer of it, so
// counting a request is a few plain adds: no lock, no locked instruction.
// The scraper sums the workers when /metrics is asked for.
//
// Per-route and per-backend statistics live in slots keyed by the route's
// `path` and the backend's "host:port" (StatsSlots), not by a snapshot's
// objects: a route that survives a reload keeps its slot and its counts.
// A snapshot carries the slot numbers (RouteRuntime::stats_slot,
// Backend::stats_slot), so a request indexes an array; no name is hashed
// per request.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/local_counter.h"
#include "proxy/access_log.h"

namespace gh::proxy {

// The Proxy-Status error names of RFC 9209 section 2.3, in a fixed order
// (counter arrays are indexed by it). Names not in it count as the last.
inline constexpr std::array<std::string_view, 33> kProxyErrorNames{
    "dns_timeout", "dns_error", "destination_not_found", "destination_unavailable",
    "destination_ip_prohibited", "destination_ip_unroutable", "connection_refused",
    "connection_terminated", "connection_timeout", "connection_read_timeout",
    "connection_write_timeout", "connection_limit_reached", "tls_protocol_error",
    "tls_certificate_error", "tls_alert_received", "http_request_error", "http_request_denied",
    "http_response_incomplete", "http_response_header_section_size", "http_response_header_size",
    "http_response_body_size", "http_response_trailer_section_size", "http_response_trailer_size",
    "http_response_transfer_coding", "http_response_content_coding", "http_response_timeout",
    "http_upgrade_failed", "http_protocol_error", "proxy_internal_response",
    "proxy_internal_error", "proxy_configuration_error", "proxy_loop_detected", "other"};

// The policies that can answer instead of the backend (policy names as
// the access log shows them); others count as the last.
inline constexpr std::array<std::string_view, 7> kPolicyNames{
    "access", "basic_auth", "forward_auth", "jwt", "waf", "rate_limit", "other"};

// Cache outcomes: "hit", or what Cache-Status's fwd= said (RFC 9211).
inline constexpr std::array<std::string_view, 8> kCacheResults{
    "hit", "miss", "vary-miss", "stale", "request", "method", "bypass", "other"};

// Client protocols, as label values.
inline constexpr std::array<std::string_view, 3> kProtocolNames{"http/1.0", "http/1.1", "h2"};

// Listener kinds, as label values (net::ListenerSpec::kind).
inline constexpr std::array<std::string_view, 3> kListenerNames{"http", "https", "admin"};

// Why server.proxy_protocol refused a connection, as label values, in the
// order of ProxyHeaderOutcome's refusals (proxy_header.h).
inline constexpr std::array<std::string_view, 3> kProxyProtocolRefusals{"untrusted", "invalid",
                                                                       "incomplete"};

// Index of `name` in `names`; the last index when it is not there.
template <size_t N>
size_t name_index(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i + 1 < N; ++i)
    if (names[i] == name) return i;
  return N - 1;
}

// One route label's statistics on one worker.
struct RouteStats {
  std::array<std::array<core::LocalCounter, 5>, 3> requests;   // [protocol][status class 1xx..5xx]
  core::LocalHistogram duration;                              // head received to response sent
  core::LocalCounter body_in;                                 // request body bytes received
  core::LocalCounter body_out;                                // response body bytes sent
  core::LocalCounter retries;
  core::LocalCounter waf_detections;
  std::array<core::LocalCounter, kProxyErrorNames.size()> errors;
  std::array<core::LocalCounter, kPolicyNames.size()> denials;
  std::array<core::LocalCounter, kCacheResults.size()> cache;
};

// One backend label's statistics on one worker.
struct BackendStats {
  core::LocalHistogram upstream;   // request sent to response head, seconds
};

// The process-wide names of statistics slots: route paths and backend
// names, each given a number the first time it is seen and kept for the
// life of the process. Slot 0 is "none" in both. Thread-safe; used when a
// snapshot is built and when /metrics is scraped, never per request.
class StatsSlots {
 public:
  StatsSlots();
  uint32_t route(std::string_view path);
  uint32_t backend(std::string_view name);
  // Copies of the names, indexed by slot.
  std::vector<std::string> route_names() const;
  std::vector<std::string> backend_names() const;
  uint32_t route_count() const;
  uint32_t backend_count() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> routes_, backends_;
  std::unordered_map<std::string, uint32_t> route_index_, backend_index_;
};

// The process's slot names.
StatsSlots& stats_slots();

// A worker's statistics. Written only by its worker thread (the request
// path and the accept path), read by the scraper on any thread.
class WorkerMetrics {
 public:
  WorkerMetrics();

  // Counts one finished request from its log record: requests by route,
  // status class and protocol, duration, body bytes, upstream duration,
  // Proxy-Status error, the refusing policy, a WAF match, the cache
  // outcome. Records with status 0 are ignored.
  void record(const LogRecord& rec);
  // One more try of a request on `route_slot`'s route.
  void retry(uint32_t route_slot) { route(route_slot).retries.add(); }
  // A finished TLS handshake with a client: `version` from SSL_version(),
  // `resumed` from SSL_session_reused().
  void tls_handshake(int version, bool resumed);

  core::LocalCounter tls_handshake_errors;
  core::LocalCounter upstream_connects;           // new upstream connections made
  std::array<core::LocalCounter, kListenerNames.size()> connections;   // accepted, by listener
  // server.proxy_protocol refusals, by kProxyProtocolRefusals.
  std::array<core::LocalCounter, kProxyProtocolRefusals.size()> proxy_protocol_refused;
  core::LocalGauge tunnels;                       // upgrade tunnels open
  // `streams` connections: finished ones by how they ended
  // (kStreamEnds), and bytes each way (open ones: StreamWorker::open()).
  std::array<core::LocalCounter, 5> stream_connections;
  core::LocalCounter stream_bytes_received;      // from clients
  core::LocalCounter stream_bytes_sent;          // to clients
  core::LocalGauge h2_streams;                    // HTTP/2 streams open
  // [0]: TLSv1.2 (and older), [1]: TLSv1.3; [..][1]: resumed.
  std::array<std::array<core::LocalCounter, 2>, 2> tls_handshakes;

  // Makes room for slots below `routes` and `backends` (on a snapshot
  // change, never per request); takes the lock the scraper takes.
  void ensure(uint32_t routes, uint32_t backends);

  // Adds this worker's per-slot values into the totals (sized as needed);
  // takes the lock ensure() takes. Any thread.
  struct RouteTotals;
  void sum_routes(std::vector<RouteTotals>& out) const;
  void sum_backends(std::vector<core::HistogramTotals>& out) const;

 private:
  RouteStats& route(uint32_t slot) {
    if (slot >= routes_.size()) [[unlikely]] ensure(slot + 1, 0);
    return *routes_[slot];
  }
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<RouteStats>> routes_;     // by route slot
  std::vector<std::unique_ptr<BackendStats>> backends_; // by backend slot
};

// A route slot's statistics summed over workers.
struct WorkerMetrics::RouteTotals {
  std::array<std::array<uint64_t, 5>, 3> requests{};
  core::HistogramTotals duration;
  uint64_t body_in = 0, body_out = 0, retries = 0, waf_detections = 0;
  std::array<uint64_t, kProxyErrorNames.size()> errors{};
  std::array<uint64_t, kPolicyNames.size()> denials{};
  std::array<uint64_t, kCacheResults.size()> cache{};
};

// How a stream connection ended (StreamRecord::end), in metric label order.
inline constexpr std::array<std::string_view, 5> kStreamEnds = {"closed", "idle_timeout", "reset",
                                                                "no_backend", "shutdown"};

// Counts a SIGHUP reload (process-wide; rare, so a plain atomic add).
void note_reload(bool ok);
uint64_t reloads(bool ok);

// A guard that holds a gauge one higher for its lifetime (tunnels, streams),
// on the gauge owner's thread.
class GaugeHold {
 public:
  explicit GaugeHold(core::LocalGauge& g) : g_(&g) { g_->add(); }
  ~GaugeHold() { g_->sub(); }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

 private:
  core::LocalGauge* g_;
};

}  // namespace gh::proxy
