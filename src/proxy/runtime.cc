#include "proxy/runtime.h"

#include <unordered_map>

namespace gh::proxy {

std::string format_authority(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  std::string s;
  s.reserve(host.size() + 8);
  if (v6) s += '[';
  s += host;
  if (v6) s += ']';
  s += ':';
  s += std::to_string(port);
  return s;
}

// The Router keeps a reference to cfg.server.reverse_proxy, so cfg is
// initialised first and never moved afterwards (Runtime is not movable).
Runtime::Runtime(config::Config c) : cfg(std::move(c)), router(cfg.server.reverse_proxy) {}

std::shared_ptr<const Runtime> build_runtime(config::Config cfg, std::string& err) {
  auto rt = std::make_shared<Runtime>(std::move(cfg));
  if (rt->cfg.ssl.enabled) {
    rt->server_tls = tls::ServerContext::create(rt->cfg.ssl, rt->cfg.server.http2, err);
    if (!rt->server_tls) return nullptr;
    if (rt->cfg.ssl.hsts.count() > 0)
      rt->hsts_header = "Strict-Transport-Security: max-age=" +
                        std::to_string(rt->cfg.ssl.hsts.count() / 1000) + "\r\n";
  }
  rt->server_pipeline = std::make_unique<policy::Pipeline>(rt->cfg.server.policies);
  for (const auto& r : rt->cfg.server.reverse_proxy) {
    RouteRuntime rr;
    rr.conf = &r;
    config::Policies pol = config::effective_policies(rt->cfg.server.policies, r.policies);
    // A rate limit counts per route, also one set under server (each route's
    // pipeline has its own); a shared store tells the routes apart by this.
    if (pol.rate_limit) {
      for (const auto& d : r.domains) pol.rate_limit->scope += d + ",";
      pol.rate_limit->scope += "|" + r.path;
    }
    rr.pipeline = std::make_unique<policy::Pipeline>(pol);
    rr.backend_scheme = r.ssl ? "https" : "http";
    if (r.ssl) {
      rr.tls = tls::ClientContext::create(r.tls, err);
      if (!rr.tls) return nullptr;
    }
    for (const auto& b : r.backends) {
      auto be = std::make_unique<upstream::Backend>();
      be->host = b.host;
      be->port = b.port;
      be->weight = b.weight;
      be->backup = b.backup;
      be->name = format_authority(b.host, b.port);
      rr.backends.push_back(be.get());
      rt->backend_store.push_back(std::move(be));
    }
    rt->routes.push_back(std::move(rr));
  }
  return rt;
}

void carry_over_backend_state(const Runtime& prev, const Runtime& next) {
  std::unordered_map<std::string, const upstream::Backend*> old;
  for (const auto& rr : prev.routes)
    for (const upstream::Backend* b : rr.backends) old.emplace(rr.conf->path + '\n' + b->name, b);
  for (const auto& rr : next.routes) {
    for (upstream::Backend* b : rr.backends) {
      auto it = old.find(rr.conf->path + '\n' + b->name);
      if (it == old.end()) continue;
      const upstream::Backend& o = *it->second;
      constexpr auto r = std::memory_order_relaxed;
      b->requests.store(o.requests.load(r), r);
      b->failures.store(o.failures.load(r), r);
      b->passive_down_until.store(o.passive_down_until.load(r), r);
      b->consecutive_failures.store(o.consecutive_failures.load(r), r);
    }
  }
}

std::vector<upstream::CheckTarget> health_targets(const Runtime& rt) {
  std::vector<upstream::CheckTarget> out;
  for (const auto& rr : rt.routes) {
    if (!rr.conf->health_check.enabled) continue;
    for (upstream::Backend* b : rr.backends) {
      upstream::CheckTarget t;
      t.backend = b;
      t.check = rr.conf->health_check;
      bool default_port = b->port == (rr.conf->ssl ? 443 : 80);
      t.host_header = default_port ? b->name.substr(0, b->name.rfind(':')) : b->name;
      t.route = rr.conf->path;
      t.tls = rr.conf->ssl;
      out.push_back(std::move(t));
    }
  }
  return out;
}

void RuntimeHolder::publish(std::shared_ptr<const Runtime> rt) {
  uint64_t g = generation_.load() + 1;
  const_cast<Runtime&>(*rt).generation = g;
  current_.store(std::move(rt));
  generation_.store(g, std::memory_order_release);
}

}  // namespace gh::proxy
