// GET /metrics: every gatehouse metric family (docs/operations.md,
// "Metrics") in the Prometheus text format, from the workers' statistics
// (summed here, on the scraping thread) and the current snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/runtime.h"
#include "proxy/worker_state.h"

namespace gh::admin {

// What one scrape reads. Pointers must stay valid for the call.
struct MetricsSources {
  const proxy::Runtime* runtime = nullptr;            // current snapshot; null: no route or backend families
  std::vector<const proxy::WorkerState*> workers;     // every worker (their metrics and pools)
  uint64_t open_connections = 0;                       // client connections open now (net::Server)
  uint64_t rate_limit_store_decisions = 0;
  uint64_t rate_limit_store_errors = 0;
  double start_time_seconds = 0;                       // unix time gatehouse started
  bool process = true;                                 // add process_* from /proc/self
};

// The whole exposition. Label `route` is a route's path ("none": no route
// matched), `backend` its "host:port"; two routes with the same path (other
// domains) are one series, their values added. Per-route counters appear
// once non-zero; every route and backend of the current snapshot always
// shows its histograms, byte, retry and backend series.
std::string render_metrics(const MetricsSources& src);

}  // namespace gh::admin
