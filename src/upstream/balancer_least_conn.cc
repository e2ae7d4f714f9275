// Least connections: the eligible backend with the fewest in_flight per unit
// of weight. Ties go round robin (smooth weighted, so at idle, when every
// in_flight is 0, weights still hold); always taking the first tied backend
// would pile every quiet moment onto it.
#include "upstream/balancer_kinds.h"

#include <utility>

namespace gh::upstream::detail {

LeastConnTier::LeastConnTier(std::vector<Backend*> backends)
    : backends_(std::move(backends)),
      weight_(backends_.size()),
      current_(backends_.size(), 0),
      load_(backends_.size(), -1) {
  for (size_t i = 0; i < backends_.size(); ++i) weight_[i] = weight_of(backends_[i]);
}

// Accepts any context; returns nullptr when no backend is usable and not excluded.
Backend* LeastConnTier::pick(const PickContext& ctx) {
  const size_t n = backends_.size();
  size_t best = n;
  // Pass 1: snapshot the loads (other workers move them meanwhile; both passes
  // must see the same numbers) and find the lowest ratio. a/wa < b/wb is
  // compared as a*wb < b*wa to stay in integers.
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(backends_[i], ctx)) {
      load_[i] = -1;
      continue;
    }
    // A transiently negative counter (decrement seen before increment) is idle.
    load_[i] = std::max(0, backends_[i]->in_flight.load(std::memory_order_relaxed));
    if (best == n || load_[i] * weight_[best] < load_[best] * weight_[i]) best = i;
  }
  if (best == n) return nullptr;

  // Pass 2: smooth weighted round robin among those tied with the best.
  size_t chosen = n;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (load_[i] < 0 || load_[i] * weight_[best] != load_[best] * weight_[i]) continue;
    current_[i] += weight_[i];
    total += weight_[i];
    if (chosen == n || current_[i] > current_[chosen]) chosen = i;
  }
  current_[chosen] -= total;
  return backends_[chosen];
}

}  // namespace gh::upstream::detail
