// The immutable snapshot a request runs against: the loaded config, the
// router built from it and the backends. Swapped atomically on reload; each
// request keeps the snapshot it started with.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "policy/pipeline.h"
#include "proxy/router.h"
#include "stream/stream_proxy.h"
#include "tls/client_context.h"
#include "tls/server_context.h"
#include "upstream/backend.h"
#include "upstream/health_checker.h"

namespace gh::proxy {

struct RouteRuntime {
  const config::Route* conf = nullptr;
  std::vector<upstream::Backend*> backends;
  std::string backend_scheme;      // "http" or "https"
  std::shared_ptr<tls::ClientContext> tls;   // set when the route has ssl: true
  std::unique_ptr<policy::Pipeline> pipeline;  // the route's policies (server's where it sets none)
  uint32_t stats_slot = 0;         // its path's statistics slot (proxy/metrics.h)
};

struct Runtime {
  explicit Runtime(config::Config c);
  config::Config cfg;
  Router router;
  std::vector<RouteRuntime> routes;
  std::vector<std::unique_ptr<upstream::Backend>> backend_store;   // routes' and streams'
  // The `streams` entries (their backends are in backend_store too).
  stream::StreamTable streams;
  std::shared_ptr<tls::ServerContext> server_tls;   // set when ssl.enabled
  std::string hsts_header;         // "Strict-Transport-Security: max-age=N\r\n" or ""
  // The server-wide policies, for responses before or without a route (404).
  std::unique_ptr<policy::Pipeline> server_pipeline;
  uint64_t generation = 0;
  // Statistics slots in use when it was built (StatsSlots counts): a worker
  // makes room for them when it takes this snapshot.
  uint32_t route_slots = 0;
  uint32_t backend_slots = 0;
};

// Builds a snapshot from a validated config: also loads certificates and
// builds TLS contexts. Refuses (nullptr, `err` set) unusable certificates or keys.
// With `previous` (the snapshot it replaces), a backend of a route with the
// same path and domains and the same "host:port" shares its predecessor's
// counters and passive health (upstream::BackendState).
std::shared_ptr<const Runtime> build_runtime(config::Config cfg, std::string& err,
                                             const Runtime* previous = nullptr);

// What the health checker should probe for this snapshot: every backend of
// every route with a health_check block.
std::vector<upstream::CheckTarget> health_targets(const Runtime& rt);

// The stream entry for a TLS server name (lower-case; StreamTable::by_sni),
// as a pointer that keeps `rt` alive for the connection (what serve_stream
// takes), or nullptr when no `sni` stream lists the name.
std::shared_ptr<const stream::StreamRuntime> stream_for_sni(const std::shared_ptr<const Runtime>& rt,
                                                            std::string_view server_name);
// The same for the stream entry that owns the listener at host:port.
std::shared_ptr<const stream::StreamRuntime> stream_for_listener(
    const std::shared_ptr<const Runtime>& rt, std::string_view host, uint16_t port);

// The process-wide current snapshot.
class RuntimeHolder {
 public:
  void publish(std::shared_ptr<const Runtime> rt);
  std::shared_ptr<const Runtime> load() const { return current_.load(); }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const Runtime>> current_;
  std::atomic<uint64_t> generation_{0};
};

// "host:port", with brackets around IPv6 literals.
std::string format_authority(const std::string& host, uint16_t port);

}  // namespace gh::proxy
