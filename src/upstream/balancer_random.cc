// random: the power of two choices. Draw two distinct eligible backends, each
// with probability in proportion to its weight, and keep the one with fewer
// in_flight per unit of weight (the first drawn on a tie). At idle this is a
// plain weighted random pick; under load it steers away from the busy one,
// without least_conn's herding when many workers read the same counters.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include "upstream/balancer_kinds.h"

namespace gh::upstream::detail {
namespace {

// Distinct seeds per instance even when two are built in the same
// microsecond; no random_device (it may block or throw), it need not be secure.
uint64_t seed_for(const void* self) {
  static std::atomic<uint64_t> counter{0};
  const auto now =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return mix64(now ^ mix64(reinterpret_cast<uintptr_t>(self)) ^
               mix64(counter.fetch_add(1, std::memory_order_relaxed) + 1));
}

}  // namespace

RandomTier::RandomTier(std::vector<Backend*> backends)
    : backends_(std::move(backends)),
      weight_(backends_.size()),
      ok_(backends_.size(), 0),
      state_(seed_for(this)) {
  for (size_t i = 0; i < backends_.size(); ++i) weight_[i] = weight_of(backends_[i]);
}

uint64_t RandomTier::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix64(state_);
}

// Accepts total > 0 equal to the sum of eligible weights minus `skip`'s (skip
// may be past the end for none). Multiply-shift maps the 64-bit draw onto
// [0, total) without a division and with negligible bias.
size_t RandomTier::draw(uint64_t total, size_t skip) {
  auto r = static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * total) >> 64);
  size_t last = skip;
  for (size_t i = 0; i < backends_.size(); ++i) {
    if (!ok_[i] || i == skip) continue;
    const auto w = static_cast<uint64_t>(weight_[i]);
    if (r < w) return i;
    r -= w;
    last = i;
  }
  return last;  // unreachable while total matches; stay safe if it does not
}

// Accepts any context; returns nullptr when no backend is usable and not excluded.
Backend* RandomTier::pick(const PickContext& ctx) {
  const size_t n = backends_.size();
  uint64_t total = 0;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    ok_[i] = eligible(backends_[i], ctx) ? 1 : 0;
    if (ok_[i]) {
      total += static_cast<uint64_t>(weight_[i]);
      ++count;
    }
  }
  if (count == 0) return nullptr;
  const size_t a = draw(total, n);
  if (count == 1) return backends_[a];
  const size_t b = draw(total - static_cast<uint64_t>(weight_[a]), a);

  const int64_t load_a = std::max(0, backends_[a]->in_flight.load(std::memory_order_relaxed));
  const int64_t load_b = std::max(0, backends_[b]->in_flight.load(std::memory_order_relaxed));
  return load_b * weight_[a] < load_a * weight_[b] ? backends_[b] : backends_[a];
}

}  // namespace gh::upstream::detail
