#include "proxy/runtime.h"

#include <unordered_map>

#include "proxy/metrics.h"

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

// A backend's identity across reloads: its route (domains and path) and its
// name, with the how-many-th such entry it is (a list may name one twice).
static std::string backend_key(const config::Route& r, const std::string& name, unsigned nth) {
  std::string k;
  for (const auto& d : r.domains) k += d + ',';
  k += '\n' + r.path + '\n' + name + '\n' + std::to_string(nth);
  return k;
}

// The same for a stream entry's backend (its entry named by listen address
// or first SNI name; never equal to a route's key, which starts with domains
// and a path).
static std::string stream_backend_key(const std::string& stream, const std::string& name,
                                      unsigned nth) {
  return "stream\n" + stream + '\n' + name + '\n' + std::to_string(nth);
}

// Keys the backends of `rt` in order, calling f(backend, key).
template <class F>
static void each_backend_key(const Runtime& rt, F&& f) {
  for (const auto& rr : rt.routes) {
    std::unordered_map<std::string_view, unsigned> seen;
    for (upstream::Backend* b : rr.backends) f(*b, backend_key(*rr.conf, b->name, seen[b->name]++));
  }
  for (const auto& sr : rt.streams.entries) {
    std::unordered_map<std::string_view, unsigned> seen;
    for (upstream::Backend* b : sr.backends) f(*b, stream_backend_key(sr.name, b->name, seen[b->name]++));
  }
}

using CarriedStates = std::unordered_map<std::string, std::shared_ptr<upstream::BackendState>>;

// A route's or stream's backend as configured, keeping the health state and
// counters the previous snapshot had under `key` (a reload must not reset them).
static std::unique_ptr<upstream::Backend> make_backend(const config::BackendConf& b, std::string name,
                                                       const CarriedStates& carried,
                                                       const std::string& key) {
  auto it = carried.find(key);
  auto be = it != carried.end() ? std::make_unique<upstream::Backend>(it->second)
                                : std::make_unique<upstream::Backend>();
  be->host = b.host;
  be->port = b.port;
  be->weight = b.weight;
  be->backup = b.backup;
  be->name = std::move(name);
  return be;
}

std::shared_ptr<const Runtime> build_runtime(config::Config cfg, std::string& err,
                                             const Runtime* previous) {
  CarriedStates carried;
  if (previous)
    each_backend_key(*previous, [&](upstream::Backend& b, std::string k) {
      carried.emplace(std::move(k), b.state);
    });
  StatsSlots& slots = stats_slots();
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
    rr.stats_slot = slots.route(r.path);
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
    std::unordered_map<std::string, unsigned> seen;
    for (const auto& b : r.backends) {
      std::string name = format_authority(b.host, b.port);
      const std::string key = backend_key(r, name, seen[name]++);
      auto be = make_backend(b, std::move(name), carried, key);
      be->stats_slot = slots.backend(be->name);
      rr.backends.push_back(be.get());
      rt->backend_store.push_back(std::move(be));
    }
    rt->routes.push_back(std::move(rr));
  }
  for (const auto& sc : rt->cfg.streams) {
    stream::StreamRuntime sr;
    sr.conf = &sc;
    sr.id = upstream::Backend::next_id();   // the same never-reused sequence
    sr.name = sc.listen_port ? format_authority(sc.listen_host, sc.listen_port)
                             : "sni:" + (sc.sni.empty() ? std::string() : sc.sni.front());
    std::unordered_map<std::string, unsigned> seen;
    for (const auto& b : sc.backends) {
      std::string name = format_authority(b.host, b.port);
      const std::string key = stream_backend_key(sr.name, name, seen[name]++);
      auto be = make_backend(b, std::move(name), carried, key);
      sr.backends.push_back(be.get());
      rt->backend_store.push_back(std::move(be));
    }
    rt->streams.entries.push_back(std::move(sr));
  }
  rt->streams.index();
  rt->route_slots = slots.route_count();
  rt->backend_slots = slots.backend_count();
  return rt;
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
  // Streams: a TCP connect only (their backends need not speak HTTP).
  for (const auto& sr : rt.streams.entries) {
    if (!sr.conf->health_check.enabled) continue;
    for (upstream::Backend* b : sr.backends) {
      upstream::CheckTarget t;
      t.backend = b;
      t.check = sr.conf->health_check;
      t.route = "stream " + sr.name;
      t.tcp_only = true;
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::shared_ptr<const stream::StreamRuntime> stream_for_sni(const std::shared_ptr<const Runtime>& rt,
                                                            std::string_view server_name) {
  if (!rt) return nullptr;
  const stream::StreamRuntime* s = rt->streams.by_sni(server_name);
  if (!s) return nullptr;
  return std::shared_ptr<const stream::StreamRuntime>(rt, s);
}

std::shared_ptr<const stream::StreamRuntime> stream_for_listener(
    const std::shared_ptr<const Runtime>& rt, std::string_view host, uint16_t port) {
  if (!rt) return nullptr;
  const stream::StreamRuntime* s = rt->streams.by_listener(host, port);
  if (!s) return nullptr;
  return std::shared_ptr<const stream::StreamRuntime>(rt, s);
}

void RuntimeHolder::publish(std::shared_ptr<const Runtime> rt) {
  uint64_t g = generation_.load() + 1;
  const_cast<Runtime&>(*rt).generation = g;
  // Ticket keys follow the published config (a rejected reload keeps the old).
  if (rt->server_tls) rt->server_tls->use_ticket_keys();
  current_.store(std::move(rt));
  generation_.store(g, std::memory_order_release);
}

}  // namespace gh::proxy
