// The status view: every route with its backends, their health state (active
// checks and passive ejection), load and counters, as JSON for the admin
// listener's GET /status. Its input is plain views, so it does not depend on
// the proxy layer: whoever holds the current snapshot builds them.
#pragma once

#include <chrono>
#include <optional>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cache/store.h"
#include "config/config.h"
#include "upstream/backend.h"
#include "upstream/health_checker.h"

namespace gh::admin {

struct RouteStatusView {
  std::string path;
  std::vector<std::string> domains;          // empty: any Host
  std::string balance;                       // "round_robin", "least_conn", ...
  std::vector<const upstream::Backend*> backends;
  // Where active-check results come from; null (or a backend it does not
  // check) shows "active_check": null.
  const upstream::HealthChecker* checker = nullptr;
  // A route with `cache`: its store's counters and limit (bytes); shown as
  // "cache": {...}, else "cache": null.
  std::optional<cache::StoreStats> cache;
  uint64_t cache_max_bytes = 0;
};

// "round_robin", "least_conn", "ip_hash", "random" (the config spelling).
const char* balance_name(config::Balance b);

// A view of one route from its config and its backends (as a runtime
// snapshot holds them). Null backends are dropped.
RouteStatusView make_route_view(const config::Route& route,
                                const std::vector<upstream::Backend*>& backends,
                                const upstream::HealthChecker* checker);

// "down" when active checks say so, else "ejected" while a passive back-off
// runs at `now_ms` (steady_clock ms), else "up".
const char* backend_state(const upstream::Backend& b, int64_t now_ms);

// Process-wide counters of `rate_limit` decisions asked of a shared store
// (store: redis); shown as "rate_limit": {...}.
struct RateLimitStatusView {
  uint64_t store_decisions = 0;
  uint64_t store_errors = 0;   // no answer in time, store down, bad reply (failed open or closed)
};

// The whole status document. Accepts any views (null backends are skipped).
// `now_ms` is steady_clock ms (for back-off remaining), `wall_now` is what
// "generated_at" shows; both default to now.
std::string render_status_json(std::span<const RouteStatusView> routes,
                               int64_t now_ms = upstream::steady_ms(),
                               std::chrono::system_clock::time_point wall_now =
                                   std::chrono::system_clock::now());
// Same, with the rate limit store's counters.
std::string render_status_json(std::span<const RouteStatusView> routes, const RateLimitStatusView& rate_limit,
                               int64_t now_ms = upstream::steady_ms(),
                               std::chrono::system_clock::time_point wall_now =
                                   std::chrono::system_clock::now());

}  // namespace gh::admin
