// Passive health: failures seen on real traffic take a backend out for a
// back-off period, even without active checks. A route with a single backend
// never ejects it (there is nothing better to send the request to).
#pragma once

#include <algorithm>

#include "upstream/backend.h"

namespace gh::upstream {

// Back-off after the n-th consecutive failure: 1s, 2s, 4s ... capped at 30s.
inline int64_t passive_backoff_ms(unsigned n) {
  unsigned shift = std::min(n > 0 ? n - 1 : 0u, 5u);
  return std::min<int64_t>(1000ll << shift, 30000);
}

inline void record_failure(Backend& b, bool may_eject, int64_t now_ms) {
  b.failures.fetch_add(1, std::memory_order_relaxed);
  unsigned n = b.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!may_eject) return;
  // An ejection is a usable backend taken out; a failure during a back-off
  // only lengthens it. (The failure path: a locked add here costs nothing
  // that matters.)
  if (b.passive_down_until.load(std::memory_order_relaxed) <= now_ms)
    b.ejections.fetch_add(1, std::memory_order_relaxed);
  b.passive_down_until.store(now_ms + passive_backoff_ms(n), std::memory_order_relaxed);
}

inline void record_success(Backend& b) {
  if (b.consecutive_failures.load(std::memory_order_relaxed) != 0)
    b.consecutive_failures.store(0, std::memory_order_relaxed);
}

}  // namespace gh::upstream
