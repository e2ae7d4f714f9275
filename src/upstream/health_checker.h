// Active health checks, once per process: one thread with its own
// io_context probes every checked backend on its interval and writes the
// verdict into Backend::active_up, which every worker reads lock-free.
// Probes of one backend never overlap: each may take up to its timeout (which
// may be longer than the interval), and the next starts when it is due and
// the previous one has finished. The
// last result per backend is kept for the status view (read rarely, so a
// mutex guards it).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "net/asio.h"
#include "upstream/backend.h"
#include "upstream/health_probe.h"
#include "upstream/resolver.h"

namespace gh::upstream {

struct CheckTarget {
  Backend* backend = nullptr;        // kept alive by the keepalive given to set_targets
  config::HealthCheck check;         // copy; targets with check.enabled == false are skipped
  std::string host_header;           // Host to send (backend host[:port])
  std::string route;                 // route path, for log lines ("/api")
  // Backend speaks TLS. TLS probes are not built yet: such a target gets a
  // TCP connect check only (no HTTP request, no status range).
  bool tls = false;
  // A TCP connect is the whole check (`streams` backends, which need not
  // speak HTTP): up when the connect completes within check.timeout.
  bool tcp_only = false;
};

// What the status view shows about one checked backend.
struct CheckStatus {
  bool up = true;                    // the checker's verdict (mirrors Backend::active_up)
  bool checked = false;              // at least one probe finished
  std::chrono::system_clock::time_point last_time{};  // when the last probe finished
  bool last_ok = false;
  int last_status = 0;               // HTTP status of the last probe; 0 when none
  std::string last_error;            // why the last probe failed; empty when it passed
  int64_t last_duration_ms = 0;
  unsigned consecutive_passes = 0;
  unsigned consecutive_failures = 0;
  uint64_t checks = 0;               // probes finished for this target
  uint64_t checks_failed = 0;
  std::chrono::milliseconds interval{0};
};

class HealthChecker {
 public:
  // Starts the checker thread (idle until targets arrive).
  HealthChecker();
  // Stops the thread; the last keepalive is released.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the set of targets (on start and on reload); callable from any
  // thread. `keepalive` owns the Backend objects and is held until no probe
  // uses them any more. Accepts any list: null backends and targets whose
  // check is disabled are skipped; a backend listed twice is checked once.
  // A target whose route and backend name were checked before keeps its
  // verdict and counts (written into the new Backend before this returns),
  // so a reload neither revives a dead backend nor forgets a live one; new
  // targets start optimistic (up). First probes are spread by a small random
  // delay. Ignored after stop().
  void set_targets(std::vector<CheckTarget> targets, std::shared_ptr<const void> keepalive);

  // The last result for `b`, or nullopt when `b` is not a current target.
  // Callable from any thread.
  std::optional<CheckStatus> status(const Backend* b) const;

  // Stops probing and joins the thread. Idempotent; callable from any thread
  // except the checker's own.
  void stop();

 private:
  struct Target;
  net::awaitable<void> check_loop(std::shared_ptr<Target> t);
  void apply(Target& t, const ProbeResult& r);

  net::asio::io_context ctx_{1};
  net::asio::executor_work_guard<net::asio::io_context::executor_type> work_;
  Resolver resolver_;                // used on the checker thread only
  mutable std::mutex mu_;            // guards targets_ and stopped_
  std::unordered_map<const Backend*, std::shared_ptr<Target>> targets_;
  // Keys (route + backend) with a probe in flight; checker thread only. A
  // target replaced by a reload may still be probing when its successor is
  // due: the successor waits, so probes of one backend never overlap.
  std::unordered_set<std::string> probing_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace gh::upstream
