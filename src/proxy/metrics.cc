#include "proxy/metrics.h"

#include <openssl/ssl.h>

namespace gh::proxy {

StatsSlots::StatsSlots() {
  route("none");
  backend("none");
}

static uint32_t slot_of(std::vector<std::string>& names,
                        std::unordered_map<std::string, uint32_t>& index, std::string_view name) {
  auto [it, fresh] = index.try_emplace(std::string(name), static_cast<uint32_t>(names.size()));
  if (fresh) names.emplace_back(name);
  return it->second;
}

uint32_t StatsSlots::route(std::string_view path) {
  std::lock_guard lk(mu_);
  return slot_of(routes_, route_index_, path);
}

uint32_t StatsSlots::backend(std::string_view name) {
  std::lock_guard lk(mu_);
  return slot_of(backends_, backend_index_, name);
}

std::vector<std::string> StatsSlots::route_names() const {
  std::lock_guard lk(mu_);
  return routes_;
}

std::vector<std::string> StatsSlots::backend_names() const {
  std::lock_guard lk(mu_);
  return backends_;
}

uint32_t StatsSlots::route_count() const {
  std::lock_guard lk(mu_);
  return static_cast<uint32_t>(routes_.size());
}

uint32_t StatsSlots::backend_count() const {
  std::lock_guard lk(mu_);
  return static_cast<uint32_t>(backends_.size());
}

StatsSlots& stats_slots() {
  static StatsSlots s;
  return s;
}

WorkerMetrics::WorkerMetrics() { ensure(1, 1); }

void WorkerMetrics::ensure(uint32_t routes, uint32_t backends) {
  if (routes <= routes_.size() && backends <= backends_.size()) return;
  std::lock_guard lk(mu_);
  while (routes_.size() < routes) routes_.push_back(std::make_unique<RouteStats>());
  while (backends_.size() < backends) backends_.push_back(std::make_unique<BackendStats>());
}

// "hit; ttl=5" -> hit; "fwd=miss; fwd-status=200; stored" -> miss.
static size_t cache_result(std::string_view v) {
  if (v.starts_with("hit")) return 0;
  size_t f = v.find("fwd=");
  if (f == std::string_view::npos) return kCacheResults.size() - 1;
  v.remove_prefix(f + 4);
  return name_index(kCacheResults, v.substr(0, v.find(';')));
}

void WorkerMetrics::record(const LogRecord& rec) {
  if (rec.status < 100) return;
  RouteStats& r = route(rec.route_slot);
  const size_t proto = rec.http2 ? 2 : rec.version_minor == 0 ? 0 : 1;
  const size_t cls = rec.status >= 600 ? 4 : static_cast<size_t>(rec.status / 100 - 1);
  r.requests[proto][cls].add();
  r.duration.observe(rec.duration_ms / 1000.0);
  if (rec.bytes_received) r.body_in.add(rec.bytes_received);
  if (rec.bytes_sent) r.body_out.add(rec.bytes_sent);
  if (rec.upstream_ms >= 0 && rec.backend_slot) {
    if (rec.backend_slot >= backends_.size()) [[unlikely]] ensure(0, rec.backend_slot + 1);
    backends_[rec.backend_slot]->upstream.observe(rec.upstream_ms / 1000.0);
  }
  // The rarer outcomes: a name compared only when there is one.
  if (!rec.proxy_status.empty()) r.errors[name_index(kProxyErrorNames, rec.proxy_status)].add();
  if (!rec.policy.empty()) r.denials[name_index(kPolicyNames, rec.policy)].add();
  if (rec.note_by == "waf") r.waf_detections.add();
  if (!rec.cache.empty()) r.cache[cache_result(rec.cache)].add();
}

void WorkerMetrics::tls_handshake(int version, bool resumed) {
  tls_handshakes[version >= TLS1_3_VERSION ? 1 : 0][resumed ? 1 : 0].add();
}

void WorkerMetrics::sum_routes(std::vector<RouteTotals>& out) const {
  std::lock_guard lk(mu_);
  if (out.size() < routes_.size()) out.resize(routes_.size());
  for (size_t s = 0; s < routes_.size(); ++s) {
    const RouteStats& r = *routes_[s];
    RouteTotals& t = out[s];
    for (size_t p = 0; p < 3; ++p)
      for (size_t c = 0; c < 5; ++c) t.requests[p][c] += r.requests[p][c].get();
    t.duration.add(r.duration);
    t.body_in += r.body_in.get();
    t.body_out += r.body_out.get();
    t.retries += r.retries.get();
    t.waf_detections += r.waf_detections.get();
    for (size_t i = 0; i < t.errors.size(); ++i) t.errors[i] += r.errors[i].get();
    for (size_t i = 0; i < t.denials.size(); ++i) t.denials[i] += r.denials[i].get();
    for (size_t i = 0; i < t.cache.size(); ++i) t.cache[i] += r.cache[i].get();
  }
}

void WorkerMetrics::sum_backends(std::vector<core::HistogramTotals>& out) const {
  std::lock_guard lk(mu_);
  if (out.size() < backends_.size()) out.resize(backends_.size());
  for (size_t s = 0; s < backends_.size(); ++s) out[s].add(backends_[s]->upstream);
}

static std::atomic<uint64_t> g_reloads[2];

void note_reload(bool ok) { g_reloads[ok ? 1 : 0].fetch_add(1, std::memory_order_relaxed); }
uint64_t reloads(bool ok) { return g_reloads[ok ? 1 : 0].load(std::memory_order_relaxed); }

}  // namespace gh::proxy
