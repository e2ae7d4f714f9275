#include "admin/metrics.h"

#include <map>
#include <utility>

#include "admin/metrics_text.h"
#include "admin/process_stats.h"
#include "policy/cache.h"
#include "upstream/backend.h"

namespace gh::admin {

using proxy::WorkerMetrics;

namespace {

struct BackendRow {
  bool up = true;
  int64_t in_flight = 0;
  uint64_t requests = 0, failures = 0, ejections = 0;
};

}  // namespace

std::string render_metrics(const MetricsSources& src) {
  std::string out;
  MetricsText m(out);

  // Sum the workers.
  std::vector<WorkerMetrics::RouteTotals> routes;
  std::vector<core::HistogramTotals> backends;
  int64_t tunnels = 0, h2_streams = 0, idle = 0, streams_open = 0;
  std::array<uint64_t, proxy::kStreamEnds.size()> stream_ends{};
  uint64_t stream_in = 0, stream_out = 0;
  uint64_t tls_errors = 0, connects = 0;
  std::array<uint64_t, proxy::kListenerNames.size()> accepted{};
  std::array<uint64_t, proxy::kProxyProtocolRefusals.size()> pp_refused{};
  std::array<std::array<uint64_t, 2>, 2> handshakes{};
  for (const proxy::WorkerState* w : src.workers) {
    const WorkerMetrics& wm = w->metrics;
    wm.sum_routes(routes);
    wm.sum_backends(backends);
    tunnels += wm.tunnels.get();
    streams_open += w->streams.open();
    for (size_t i = 0; i < stream_ends.size(); ++i) stream_ends[i] += wm.stream_connections[i].get();
    stream_in += wm.stream_bytes_received.get();
    stream_out += wm.stream_bytes_sent.get();
    h2_streams += wm.h2_streams.get();
    idle += w->pool.idle_count();
    tls_errors += wm.tls_handshake_errors.get();
    connects += wm.upstream_connects.get();
    for (size_t i = 0; i < accepted.size(); ++i) accepted[i] += wm.connections[i].get();
    for (size_t i = 0; i < pp_refused.size(); ++i) pp_refused[i] += wm.proxy_protocol_refused[i].get();
    for (size_t v = 0; v < 2; ++v)
      for (size_t r = 0; r < 2; ++r) handshakes[v][r] += wm.tls_handshakes[v][r].get();
  }
  const std::vector<std::string> route_names = proxy::stats_slots().route_names();
  const std::vector<std::string> backend_names = proxy::stats_slots().backend_names();
  routes.resize(route_names.size());
  backends.resize(backend_names.size());

  // Which slots show their always-present series: the snapshot's routes and
  // backends, and any that has counted something.
  std::vector<bool> show_route(routes.size()), show_backend(backends.size());
  // (route slot, backend name) -> backend row, in label order; and cache bytes by route slot.
  std::map<std::pair<uint32_t, std::string_view>, BackendRow> backend_rows;
  std::map<uint32_t, uint64_t> cache_bytes;
  const int64_t now = upstream::steady_ms();
  if (src.runtime) {
    for (const proxy::RouteRuntime& rr : src.runtime->routes) {
      if (rr.stats_slot < show_route.size()) show_route[rr.stats_slot] = true;
      for (const upstream::Backend* b : rr.backends) {
        if (b->stats_slot < show_backend.size()) show_backend[b->stats_slot] = true;
        auto [it, fresh] = backend_rows.try_emplace({rr.stats_slot, b->name});
        BackendRow& row = it->second;
        row.up = row.up && b->usable(now);
        row.in_flight += b->in_flight.load(std::memory_order_relaxed);
        row.requests += b->requests.load(std::memory_order_relaxed);
        row.failures += b->failures.load(std::memory_order_relaxed);
        row.ejections += b->ejections.load(std::memory_order_relaxed);
      }
      if (const policy::CacheRule* c = rr.pipeline ? rr.pipeline->cache() : nullptr)
        cache_bytes[rr.stats_slot] += c->store().stats().bytes;
    }
  }
  for (size_t s = 0; s < routes.size(); ++s)
    if (routes[s].duration.count() > 0) show_route[s] = true;
  for (size_t s = 0; s < backends.size(); ++s)
    if (backends[s].count() > 0) show_backend[s] = true;

  // (About what a route's and a backend's series take: one allocation.)
  out.reserve(8192 + routes.size() * 1600 + backends.size() * 1800);
  m.family("gatehouse_build_info", "gauge", "Build information; always 1.");
  {
    const Label l[] = {{"version", GH_VERSION}};
    m.sample("gatehouse_build_info", l, uint64_t{1});
  }
  m.family("gatehouse_start_time_seconds", "gauge", "When gatehouse started, in unix time.");
  m.sample("gatehouse_start_time_seconds", {}, src.start_time_seconds);
  m.family("gatehouse_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
  {
    const Label ok[] = {{"result", "success"}};
    const Label bad[] = {{"result", "failure"}};
    m.sample("gatehouse_config_reloads_total", ok, proxy::reloads(true));
    m.sample("gatehouse_config_reloads_total", bad, proxy::reloads(false));
  }

  static constexpr std::string_view kClass[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  m.family("gatehouse_http_requests_total", "counter",
           "Requests answered, by route, status class and client protocol.");
  for (size_t s = 0; s < routes.size(); ++s)
    for (size_t p = 0; p < 3; ++p)
      for (size_t c = 0; c < 5; ++c) {
        if (!routes[s].requests[p][c]) continue;
        const Label l[] = {{"route", route_names[s]}, {"status_class", kClass[c]},
                           {"protocol", proxy::kProtocolNames[p]}};
        m.sample("gatehouse_http_requests_total", l, routes[s].requests[p][c]);
      }
  m.family("gatehouse_http_request_duration_seconds", "histogram",
           "Time from a request's head to the end of its response, by route.");
  for (size_t s = 0; s < routes.size(); ++s) {
    if (!show_route[s]) continue;
    const Label l[] = {{"route", route_names[s]}};
    m.histogram("gatehouse_http_request_duration_seconds", l, routes[s].duration);
  }
  m.family("gatehouse_http_request_body_bytes_total", "counter",
           "Request body bytes received from clients, by route.");
  for (size_t s = 0; s < routes.size(); ++s) {
    if (!show_route[s]) continue;
    const Label l[] = {{"route", route_names[s]}};
    m.sample("gatehouse_http_request_body_bytes_total", l, routes[s].body_in);
  }
  m.family("gatehouse_http_response_body_bytes_total", "counter",
           "Response body bytes sent to clients, by route.");
  for (size_t s = 0; s < routes.size(); ++s) {
    if (!show_route[s]) continue;
    const Label l[] = {{"route", route_names[s]}};
    m.sample("gatehouse_http_response_body_bytes_total", l, routes[s].body_out);
  }

  m.family("gatehouse_downstream_connections_active", "gauge", "Client connections open now.");
  m.sample("gatehouse_downstream_connections_active", {}, src.open_connections);
  m.family("gatehouse_downstream_connections_total", "counter", "Client connections accepted, by listener.");
  for (size_t i = 0; i < accepted.size(); ++i) {
    const Label l[] = {{"listener", proxy::kListenerNames[i]}};
    m.sample("gatehouse_downstream_connections_total", l, accepted[i]);
  }
  m.family("gatehouse_tunnels_active", "gauge", "WebSocket and other upgrade tunnels open now.");
  m.sample("gatehouse_tunnels_active", {}, tunnels);
  m.family("gatehouse_streams_active", "gauge", "`streams` (TCP) connections open now.");
  m.sample("gatehouse_streams_active", {}, streams_open);
  m.family("gatehouse_stream_connections_total", "counter",
           "Finished `streams` (TCP) connections, by how they ended.");
  for (size_t i = 0; i < stream_ends.size(); ++i) {
    const Label l[] = {{"end", proxy::kStreamEnds[i]}};
    m.sample("gatehouse_stream_connections_total", l, stream_ends[i]);
  }
  m.family("gatehouse_stream_bytes_total", "counter",
           "Bytes relayed by `streams` connections: received from clients, sent to clients.");
  {
    const Label in[] = {{"direction", "received"}};
    const Label out_l[] = {{"direction", "sent"}};
    m.sample("gatehouse_stream_bytes_total", in, stream_in);
    m.sample("gatehouse_stream_bytes_total", out_l, stream_out);
  }
  m.family("gatehouse_http2_streams_active", "gauge", "HTTP/2 client streams open now.");
  m.sample("gatehouse_http2_streams_active", {}, h2_streams);
  m.family("gatehouse_tls_handshakes_total", "counter",
           "TLS handshakes completed with clients, by version and session resumption.");
  static constexpr std::string_view kTls[] = {"TLSv1.2", "TLSv1.3"};
  for (size_t v = 0; v < 2; ++v)
    for (size_t r = 0; r < 2; ++r) {
      const Label l[] = {{"version", kTls[v]}, {"resumed", r ? "true" : "false"}};
      m.sample("gatehouse_tls_handshakes_total", l, handshakes[v][r]);
    }
  m.family("gatehouse_tls_handshake_errors_total", "counter", "TLS handshakes with clients that failed.");
  m.sample("gatehouse_tls_handshake_errors_total", {}, tls_errors);
  m.family("gatehouse_proxy_protocol_refused_total", "counter",
           "Connections server.proxy_protocol refused: untrusted peer, invalid or incomplete header.");
  for (size_t i = 0; i < pp_refused.size(); ++i) {
    const Label l[] = {{"reason", proxy::kProxyProtocolRefusals[i]}};
    m.sample("gatehouse_proxy_protocol_refused_total", l, pp_refused[i]);
  }

  m.family("gatehouse_backend_up", "gauge",
           "1 when the backend takes requests, 0 when health checks say down or it is ejected.");
  for (const auto& [k, row] : backend_rows) {
    const Label l[] = {{"route", route_names[k.first]}, {"backend", k.second}};
    m.sample("gatehouse_backend_up", l, uint64_t{row.up ? 1u : 0u});
  }
  m.family("gatehouse_backend_requests_total", "counter",
           "Requests sent to the backend (each try that got a connection).");
  for (const auto& [k, row] : backend_rows) {
    const Label l[] = {{"route", route_names[k.first]}, {"backend", k.second}};
    m.sample("gatehouse_backend_requests_total", l, row.requests);
  }
  m.family("gatehouse_backend_failures_total", "counter",
           "Failed tries at the backend (connect failures, timeouts, cut responses).");
  for (const auto& [k, row] : backend_rows) {
    const Label l[] = {{"route", route_names[k.first]}, {"backend", k.second}};
    m.sample("gatehouse_backend_failures_total", l, row.failures);
  }
  m.family("gatehouse_backend_ejections_total", "counter",
           "Times passive health took the backend out after failures.");
  for (const auto& [k, row] : backend_rows) {
    const Label l[] = {{"route", route_names[k.first]}, {"backend", k.second}};
    m.sample("gatehouse_backend_ejections_total", l, row.ejections);
  }
  m.family("gatehouse_backend_in_flight", "gauge", "Requests at the backend now.");
  for (const auto& [k, row] : backend_rows) {
    const Label l[] = {{"route", route_names[k.first]}, {"backend", k.second}};
    m.sample("gatehouse_backend_in_flight", l, row.in_flight);
  }
  m.family("gatehouse_upstream_duration_seconds", "histogram",
           "Time from sending a request to the backend to its response head, by backend.");
  for (size_t s = 1; s < backends.size(); ++s) {
    if (!show_backend[s]) continue;
    const Label l[] = {{"backend", backend_names[s]}};
    m.histogram("gatehouse_upstream_duration_seconds", l, backends[s]);
  }
  m.family("gatehouse_retries_total", "counter", "Requests tried again (another backend or a fresh connection), by route.");
  for (size_t s = 0; s < routes.size(); ++s) {
    if (!show_route[s]) continue;
    const Label l[] = {{"route", route_names[s]}};
    m.sample("gatehouse_retries_total", l, routes[s].retries);
  }
  m.family("gatehouse_upstream_idle_connections", "gauge", "Idle keep-alive connections to backends in the pools.");
  m.sample("gatehouse_upstream_idle_connections", {}, idle);
  m.family("gatehouse_upstream_connects_total", "counter", "New connections made to backends.");
  m.sample("gatehouse_upstream_connects_total", {}, connects);

  m.family("gatehouse_proxy_errors_total", "counter",
           "Responses with a Proxy-Status error (RFC 9209 name), by route.");
  for (size_t s = 0; s < routes.size(); ++s)
    for (size_t i = 0; i < proxy::kProxyErrorNames.size(); ++i) {
      if (!routes[s].errors[i]) continue;
      const Label l[] = {{"route", route_names[s]}, {"error", proxy::kProxyErrorNames[i]}};
      m.sample("gatehouse_proxy_errors_total", l, routes[s].errors[i]);
    }
  m.family("gatehouse_policy_denials_total", "counter",
           "Requests a policy answered instead of the backend, by route and policy.");
  for (size_t s = 0; s < routes.size(); ++s)
    for (size_t i = 0; i < proxy::kPolicyNames.size(); ++i) {
      if (!routes[s].denials[i]) continue;
      const Label l[] = {{"route", route_names[s]}, {"policy", proxy::kPolicyNames[i]}};
      m.sample("gatehouse_policy_denials_total", l, routes[s].denials[i]);
    }
  m.family("gatehouse_waf_detections_total", "counter",
           "Requests in which the WAF matched rules (blocked or detect only), by route.");
  for (size_t s = 0; s < routes.size(); ++s) {
    if (!routes[s].waf_detections) continue;
    const Label l[] = {{"route", route_names[s]}};
    m.sample("gatehouse_waf_detections_total", l, routes[s].waf_detections);
  }
  m.family("gatehouse_cache_requests_total", "counter",
           "Requests on cached routes by outcome (hit, or why the backend was asked).");
  for (size_t s = 0; s < routes.size(); ++s)
    for (size_t i = 0; i < proxy::kCacheResults.size(); ++i) {
      if (!routes[s].cache[i]) continue;
      const Label l[] = {{"route", route_names[s]}, {"result", proxy::kCacheResults[i]}};
      m.sample("gatehouse_cache_requests_total", l, routes[s].cache[i]);
    }
  m.family("gatehouse_cache_stored_bytes", "gauge", "Bytes held in a cached route's store.");
  for (const auto& [slot, bytes] : cache_bytes) {
    const Label l[] = {{"route", route_names[slot]}};
    m.sample("gatehouse_cache_stored_bytes", l, bytes);
  }
  m.family("gatehouse_rate_limit_store_decisions_total", "counter",
           "rate_limit decisions asked of the shared store (store: redis).");
  m.sample("gatehouse_rate_limit_store_decisions_total", {}, src.rate_limit_store_decisions);
  m.family("gatehouse_rate_limit_store_errors_total", "counter",
           "rate_limit store calls that failed (no answer in time, store down, bad reply).");
  m.sample("gatehouse_rate_limit_store_errors_total", {}, src.rate_limit_store_errors);

  ProcessStats ps;
  if (src.process && read_process_stats(ps)) {
    m.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    m.sample("process_start_time_seconds", {}, ps.start_time_seconds);
    m.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    m.sample("process_cpu_seconds_total", {}, ps.cpu_seconds);
    m.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    m.sample("process_resident_memory_bytes", {}, ps.resident_bytes);
    m.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    m.sample("process_virtual_memory_bytes", {}, ps.virtual_bytes);
    m.family("process_open_fds", "gauge", "Number of open file descriptors.");
    m.sample("process_open_fds", {}, ps.open_fds);
    m.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    m.sample("process_max_fds", {}, ps.max_fds);
  }
  return out;
}

}  // namespace gh::admin
