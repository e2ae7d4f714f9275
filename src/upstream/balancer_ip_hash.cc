// ip_hash: consistent hashing on a ring of virtual nodes. Each backend owns
// points at hash(name, replica), replicas in proportion to its weight; a key
// belongs to the first point at or after it (clockwise). Adding a backend
// takes only the keys that land just before its new points (about 1/(N+1) of
// them); a backend going down hands its keys to the next distinct backend on
// the ring, which differs from point to point, so they spread over all the
// others while every other key stays put.
#include <algorithm>
#include <string>
#include <utility>

#include "upstream/balancer_kinds.h"

namespace gh::upstream::detail {
namespace {

// Points depend only on the backend's name (not its position in the list), so
// every worker and every proxy instance builds the same ring, and reordering
// the config moves nothing.
std::string ring_name(const Backend* b) {
  if (!b->name.empty()) return b->name;
  return b->host + ":" + std::to_string(b->port);
}

uint64_t ring_point(const std::string& name, uint32_t replica) {
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(name.data()), name.size());
  return hash_bytes(bytes, mix64(uint64_t{replica} + 0x72696e67ULL));  // "ring"
}

}  // namespace

RingTier::RingTier(std::vector<Backend*> backends)
    : backends_(std::move(backends)), ok_(backends_.size(), 0) {
  uint64_t total_weight = 0;
  for (Backend* b : backends_) total_weight += static_cast<uint64_t>(weight_of(b));
  // Scale down uniformly past the cap. Replica i is the same point whatever the
  // count, so a smaller count only drops points: still consistent.
  const double per_weight =
      total_weight * kPointsPerWeight <= kMaxPoints
          ? double{kPointsPerWeight}
          : double{kMaxPoints} / static_cast<double>(total_weight);

  std::vector<std::pair<uint64_t, uint32_t>> ring;
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    const std::string name = ring_name(backends_[i]);
    const auto replicas = std::max<uint32_t>(
        1, static_cast<uint32_t>(per_weight * static_cast<double>(weight_of(backends_[i])) + 0.5));
    for (uint32_t r = 0; r < replicas; ++r) ring.emplace_back(ring_point(name, r), i);
  }
  // Ties (equal 64-bit points) are next to impossible; breaking them by name
  // would matter only for them, so index order is enough.
  std::sort(ring.begin(), ring.end());
  points_.reserve(ring.size());
  owners_.reserve(ring.size());
  for (const auto& [point, owner] : ring) {
    points_.push_back(point);
    owners_.push_back(owner);
  }
}

// Accepts any client_hash (it is mixed again, so even a poor caller hash
// spreads); returns nullptr when no backend is usable and not excluded.
Backend* RingTier::pick(const PickContext& ctx) {
  const size_t size = points_.size();
  if (size == 0) return nullptr;
  const uint64_t key = mix64(ctx.client_hash);
  size_t at = static_cast<size_t>(std::lower_bound(points_.begin(), points_.end(), key) -
                                  points_.begin());
  if (at == size) at = 0;
  Backend* first = backends_[owners_[at]];
  if (eligible(first, ctx)) return first;  // the common case: one lookup

  // Slow path: note who is eligible once, so the walk below reads plain bytes
  // and is known to stop (every backend owns at least one point).
  bool any = false;
  for (size_t i = 0; i < backends_.size(); ++i) {
    ok_[i] = eligible(backends_[i], ctx) ? 1 : 0;
    any = any || ok_[i];
  }
  if (!any) return nullptr;
  for (;;) {
    at = at + 1 == size ? 0 : at + 1;
    if (ok_[owners_[at]]) return backends_[owners_[at]];
  }
}

}  // namespace gh::upstream::detail
