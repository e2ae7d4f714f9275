// The monotonic clock in milliseconds, for back-offs, health state and
// warnings that are rate limited: steady_clock, so wall-clock steps never
// reopen a back-off early or hold one shut. (Deadlines on the request path
// read the coarse clock instead: net/deadlines.h.)
#pragma once

#include <chrono>
#include <cstdint>

namespace gh::core {

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace gh::core
