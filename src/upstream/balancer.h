// Peer selection, apart from connection handling: a Balancer picks a Backend
// for one request. One Balancer per route per worker, so its own state needs
// no locks; backend health and load are read from the shared atomics.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "config/config.h"
#include "upstream/backend.h"

namespace gh::upstream {

struct PickContext {
  uint64_t client_hash = 0;          // hash of the client address (ip_hash)
  std::span<Backend* const> exclude; // backends already tried for this request
  int64_t now_ms = 0;                // steady_ms(), for health checks
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Returns a usable backend, or nullptr when none is. Backups are chosen only
  // when no primary backend is usable (and not excluded).
  virtual Backend* pick(const PickContext& ctx) = 0;
};

// `backends` outlive the balancer. Accepts every config::Balance value.
std::unique_ptr<Balancer> make_balancer(config::Balance kind, std::vector<Backend*> backends);

}  // namespace gh::upstream
