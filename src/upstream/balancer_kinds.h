// Internal to the balancers: one "tier" class per algorithm. A tier picks
// among one group of backends (all primaries, or all backups); make_balancer
// stacks a primary tier over a backup tier. Tiers are plain classes, not
// virtual, so a pick costs one virtual call in all.
//
// Every tier: built once with its backends (allocation allowed there), then
// pick() reads only its own preallocated state and relaxed atomics: no heap,
// no locks. Not thread-safe: one instance per worker, like the Balancer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "upstream/balancer.h"

namespace gh::upstream::detail {

// The exclusion list is the handful of backends already tried for this
// request, so a linear scan beats anything cleverer.
inline bool excluded(const Backend* b, std::span<Backend* const> exclude) {
  return std::find(exclude.begin(), exclude.end(), b) != exclude.end();
}

inline bool eligible(const Backend* b, const PickContext& ctx) {
  return b->usable(ctx.now_ms) && !excluded(b, ctx.exclude);
}

// Config refuses weight 0; treating it as 1 keeps the arithmetic safe if a
// caller builds backends by hand.
inline int64_t weight_of(const Backend* b) { return b->weight == 0 ? 1 : int64_t{b->weight}; }

// splitmix64's finalizer: a bijective 64-bit mix with full avalanche.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Hash of arbitrary bytes, endian-independent; see balancer_hash.cc.
uint64_t hash_bytes(std::span<const uint8_t> bytes, uint64_t seed);

// Smooth weighted round robin (nginx style).
class RoundRobinTier {
 public:
  explicit RoundRobinTier(std::vector<Backend*> backends);
  Backend* pick(const PickContext& ctx);

 private:
  std::vector<Backend*> backends_;
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;  // the "current weight" of each backend
};

// Fewest in_flight per unit of weight; ties by smooth weighted round robin.
class LeastConnTier {
 public:
  explicit LeastConnTier(std::vector<Backend*> backends);
  Backend* pick(const PickContext& ctx);

 private:
  std::vector<Backend*> backends_;
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;  // round-robin state among tied backends
  std::vector<int64_t> load_;     // scratch: in_flight snapshot, -1 = not eligible
};

// Consistent hashing on client_hash: a ring of virtual nodes.
class RingTier {
 public:
  explicit RingTier(std::vector<Backend*> backends);
  Backend* pick(const PickContext& ctx);

  // Virtual nodes per unit of weight, and the cap on the whole ring (a ring is
  // per route per worker; the cap keeps huge weights from costing megabytes).
  static constexpr uint32_t kPointsPerWeight = 160;
  static constexpr uint32_t kMaxPoints = 16384;

 private:
  std::vector<Backend*> backends_;
  std::vector<uint64_t> points_;   // sorted ring positions
  std::vector<uint32_t> owners_;   // owners_[i]: index into backends_ of points_[i]
  std::vector<uint8_t> ok_;        // scratch: eligible this pick
};

// Power of two choices over weighted random draws.
class RandomTier {
 public:
  explicit RandomTier(std::vector<Backend*> backends);
  Backend* pick(const PickContext& ctx);

 private:
  uint64_t next();                                   // splitmix64 step
  size_t draw(uint64_t total, size_t skip);          // weighted, over ok_ minus skip

  std::vector<Backend*> backends_;
  std::vector<int64_t> weight_;
  std::vector<uint8_t> ok_;  // scratch: eligible this pick
  uint64_t state_;
};

}  // namespace gh::upstream::detail
