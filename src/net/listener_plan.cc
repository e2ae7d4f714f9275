#include "net/listener_plan.h"

namespace gh::net {

std::vector<ListenerSpec> listeners_for(const config::Config& cfg) {
  std::vector<ListenerSpec> out;
  if (!cfg.ssl.enabled) {
    out.push_back({cfg.server.host, cfg.server.port, "http"});
  } else if (cfg.ssl.port) {
    out.push_back({cfg.server.host, cfg.server.port, "http"});
    out.push_back({cfg.server.host, *cfg.ssl.port, "https"});
  } else {
    out.push_back({cfg.server.host, cfg.server.port, "https"});
  }
  if (cfg.admin.enabled) out.push_back({cfg.admin.host, cfg.admin.port, "admin"});
  for (const auto& s : cfg.streams)
    if (s.listen_port != 0) out.push_back({s.listen_host, s.listen_port, "stream"});
  return out;
}

}  // namespace gh::net
