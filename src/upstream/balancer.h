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

// `backends` outlive the balancer. Accepts every config::Balance value and any
// list, empty included (pick then always returns nullptr). Weight 0 counts as 1
// (config refuses it anyway); a null entry is not allowed.
std::unique_ptr<Balancer> make_balancer(config::Balance kind, std::vector<Backend*> backends);

// A fast, well-mixed 64-bit hash of a client address for PickContext::client_hash.
// Accepts any bytes (pass the 4 or 16 raw address bytes, never the text form, so
// that one client always hashes the same); the result is the same in every
// process on every machine. Not keyed: not for hash tables facing attackers.
uint64_t hash_client_address(std::span<const uint8_t> bytes);

}  // namespace gh::upstream
