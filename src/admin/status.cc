#include "admin/status.h"

#include "admin/json.h"

namespace gh::admin {

using upstream::Backend;
using upstream::CheckStatus;

const char* balance_name(config::Balance b) {
  switch (b) {
    case config::Balance::round_robin: return "round_robin";
    case config::Balance::least_conn: return "least_conn";
    case config::Balance::ip_hash: return "ip_hash";
    case config::Balance::random: return "random";
  }
  return "unknown";
}

RouteStatusView make_route_view(const config::Route& route,
                                const std::vector<upstream::Backend*>& backends,
                                const upstream::HealthChecker* checker) {
  RouteStatusView v;
  v.path = route.path;
  v.domains = route.domains;
  v.balance = balance_name(route.balance);
  for (const Backend* b : backends)
    if (b) v.backends.push_back(b);
  v.checker = checker;
  return v;
}

const char* backend_state(const Backend& b, int64_t now_ms) {
  if (!b.active_up.load(std::memory_order_relaxed)) return "down";
  if (b.passive_down_until.load(std::memory_order_relaxed) > now_ms) return "ejected";
  return "up";
}

namespace {

void write_check(JsonWriter& w, const CheckStatus& st) {
  w.begin_object();
  w.member("up", st.up);
  w.member("interval_ms", static_cast<int64_t>(st.interval.count()));
  w.key("last_check");
  if (st.checked) w.value(format_utc(st.last_time));
  else w.null();
  w.key("last_result");
  if (st.checked) w.value(st.last_ok ? "pass" : "fail");
  else w.null();
  w.key("last_status");
  if (st.checked && st.last_status != 0) w.value(st.last_status);
  else w.null();
  w.key("last_error");
  if (st.checked && !st.last_error.empty()) w.value(st.last_error);
  else w.null();
  w.member("last_duration_ms", st.last_duration_ms);
  w.member("consecutive_passes", st.consecutive_passes);
  w.member("consecutive_failures", st.consecutive_failures);
  w.member("checks", st.checks);
  w.member("checks_failed", st.checks_failed);
  w.end_object();
}

void write_backend(JsonWriter& w, const Backend& b, const upstream::HealthChecker* checker,
                   int64_t now_ms) {
  w.begin_object();
  w.member("name", b.name);
  w.member("weight", b.weight);
  w.member("backup", b.backup);
  w.member("state", backend_state(b, now_ms));
  w.member("in_flight", b.in_flight.load(std::memory_order_relaxed));
  w.member("requests", b.requests.load(std::memory_order_relaxed));
  w.member("failures", b.failures.load(std::memory_order_relaxed));

  int64_t until = b.passive_down_until.load(std::memory_order_relaxed);
  w.key("passive");
  w.begin_object();
  w.member("consecutive_failures", b.consecutive_failures.load(std::memory_order_relaxed));
  w.member("ejected_for_ms", until > now_ms ? until - now_ms : int64_t{0});
  w.end_object();

  w.key("active_check");
  std::optional<CheckStatus> st;
  if (checker) st = checker->status(&b);
  if (st) write_check(w, *st);
  else w.null();
  w.end_object();
}

}  // namespace

std::string render_status_json(std::span<const RouteStatusView> routes, int64_t now_ms,
                               std::chrono::system_clock::time_point wall_now) {
  return render_status_json(routes, RateLimitStatusView{}, now_ms, wall_now);
}

std::string render_status_json(std::span<const RouteStatusView> routes, const RateLimitStatusView& rate_limit,
                               int64_t now_ms, std::chrono::system_clock::time_point wall_now) {
  std::string out;
  out.reserve(512 + routes.size() * 1024);
  JsonWriter w(out);
  w.begin_object();
  w.member("generated_at", format_utc(wall_now));
  w.key("routes");
  w.begin_array();
  for (const RouteStatusView& r : routes) {
    w.begin_object();
    w.member("path", r.path);
    w.key("domains");
    w.begin_array();
    for (const auto& d : r.domains) w.value(d);
    w.end_array();
    w.member("balance", r.balance);
    w.key("backends");
    w.begin_array();
    for (const Backend* b : r.backends)
      if (b) write_backend(w, *b, r.checker, now_ms);
    w.end_array();
    w.key("cache");
    if (r.cache) {
      w.begin_object();
      w.member("hits", r.cache->hits);
      w.member("misses", r.cache->misses);
      w.member("stores", r.cache->stores);
      w.member("evictions", r.cache->evictions);
      w.member("bytes", r.cache->bytes);
      w.member("entries", r.cache->entries);
      w.member("max_bytes", r.cache_max_bytes);
      w.end_object();
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.key("rate_limit");
  w.begin_object();
  w.member("store_decisions", rate_limit.store_decisions);
  w.member("store_errors", rate_limit.store_errors);
  w.end_object();
  w.end_object();
  out += '\n';
  return out;
}

}  // namespace gh::admin
