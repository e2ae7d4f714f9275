// Smooth weighted round robin, the nginx algorithm: every pick adds each
// eligible backend's weight to its current weight, takes the largest, and
// takes the eligible total back off the winner. Over any window of
// sum(weights) picks each backend gets exactly its weight, spread out rather
// than in bursts; with equal weights it is plain rotation.
#include "upstream/balancer_kinds.h"

#include <utility>

namespace gh::upstream::detail {

RoundRobinTier::RoundRobinTier(std::vector<Backend*> backends)
    : backends_(std::move(backends)), weight_(backends_.size()), current_(backends_.size(), 0) {
  for (size_t i = 0; i < backends_.size(); ++i) weight_[i] = weight_of(backends_[i]);
}

// Accepts any context; returns nullptr when no backend is usable and not excluded.
Backend* RoundRobinTier::pick(const PickContext& ctx) {
  const size_t n = backends_.size();
  size_t best = n;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    // Ineligible backends keep their current weight untouched, as in nginx:
    // they simply sit out this round.
    if (!eligible(backends_[i], ctx)) continue;
    current_[i] += weight_[i];
    total += weight_[i];
    if (best == n || current_[i] > current_[best]) best = i;
  }
  if (best == n) return nullptr;
  current_[best] -= total;
  return backends_[best];
}

}  // namespace gh::upstream::detail
