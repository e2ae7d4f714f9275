// What one worker thread keeps for proxying: its view of the current
// snapshot, per-route balancers, the upstream pool, the DNS cache, the
// access log buffer and the list of open sessions. Touched only by that
// worker's thread.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "net/idle_set.h"
#include "net/server.h"
#include "proxy/access_log.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"
#include "stream/stream_proxy.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"
#include "upstream/resolver.h"

namespace gh::proxy {

class Session;
class H2Connection;
class H2UpConn;
class CacheRefresh;
struct Parked;

struct Shared {
  RuntimeHolder runtime;
  AccessLogSink access_log;
};

class WorkerState {
 public:
  WorkerState(net::Worker& w, Shared& shared);

  // The snapshot for a new request; picks up a newly published one.
  const std::shared_ptr<const Runtime>& runtime() {
    if (shared_.runtime.generation() != generation_) refresh();
    return rt_;
  }
  upstream::Balancer* balancer(size_t route_index) { return balancers_[route_index].get(); }

  net::Worker& worker;
  upstream::Pool pool;
  upstream::Resolver resolver;
  stream::StreamWorker streams;   // stream connections (serve_stream) on this worker
  AccessLogBuffer log;
  WorkerMetrics metrics;
  // A request is over: counts it (metrics, whether or not the access log is
  // on) and logs it. The one place every finished request goes through.
  void finish(const LogRecord& rec) {
    metrics.record(rec);
    log.add(rec);
  }
  uint64_t rng();                 // fast per-worker random numbers (request ids)

  // Draining, an idle keep-alive connection is closed once it stayed idle
  // this long after the drain began (a request sent meanwhile is answered,
  // with Connection: close): closing at once would race its client.
  static constexpr int64_t kDrainIdleMs = 500;
  int64_t drain_started_ms = 0;   // 0: not draining

  // Sessions register themselves so draining can close the idle ones.
  Session* sessions = nullptr;
  H2Connection* h2_connections = nullptr;
  // HTTP/2 connections to backends (upstream_protocol: http2), one per
  // backend, shared by the worker's requests; dropped when the snapshot changes.
  std::unordered_map<const upstream::Backend*, std::shared_ptr<H2UpConn>> h2_upstreams;
  Parked* parked = nullptr;
  // Background revalidations running on this worker (cache_refresh.h).
  CacheRefresh* cache_refreshes = nullptr;
  std::unique_ptr<net::IdleSet> idle;   // long-idle connections (see park.h)
  size_t active_sessions = 0;     // Session objects alive on this worker
  size_t parked_in_asio = 0;      // Parked objects alive on this worker
  // Sessions and connections parked in Asio are what a burst leaves behind
  // in the heap; the peak of their sum since the last trim decides when
  // freed memory is handed back (see tick()).
  size_t peak_heavy = 0;
  void note_heavy() {
    size_t h = active_sessions + parked_in_asio;
    if (h > peak_heavy) peak_heavy = h;
  }

  // Called every 100 ms: flushes the access log, and after a burst of
  // sessions has passed, gives freed heap pages back to the kernel.
  void tick();

 private:
  void refresh();
  Shared& shared_;
  std::shared_ptr<const Runtime> rt_;
  uint64_t generation_ = ~0ull;
  std::vector<std::unique_ptr<upstream::Balancer>> balancers_;
  uint64_t rng_state_;
};

}  // namespace gh::proxy
