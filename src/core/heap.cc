#include "core/heap.h"

#include <malloc.h>

#include <atomic>
#include <cstdint>

namespace gh::core {

namespace {

std::atomic<uint64_t> large_bytes{0};      // allocated since the last trim
std::atomic<uint64_t> seen_bytes{0};       // large_bytes at the last tick that saw a change
std::atomic<int64_t> changed_at{0};        // when that tick ran (ms)

// A trim walks every free chunk (about 1 ms for a 16 MiB arena): not for
// less than this much churn.
constexpr uint64_t kTrimAfter = 4 * 1024 * 1024;
constexpr int64_t kQuietMs = 1000;

}  // namespace

void tune_heap() {
  // Fixed values also switch glibc's dynamic thresholds off.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);   // glibc's largest allowed
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

void note_large_allocation(size_t bytes) { large_bytes.fetch_add(bytes, std::memory_order_relaxed); }

bool trim_heap_after_large_blocks(int64_t now_ms) {
  const uint64_t b = large_bytes.load(std::memory_order_relaxed);
  if (b < kTrimAfter) return false;
  if (b != seen_bytes.load(std::memory_order_relaxed)) {
    seen_bytes.store(b, std::memory_order_relaxed);
    changed_at.store(now_ms, std::memory_order_relaxed);
    return false;
  }
  if (now_ms - changed_at.load(std::memory_order_relaxed) < kQuietMs) return false;
  uint64_t expected = b;
  if (!large_bytes.compare_exchange_strong(expected, 0)) return false;   // another worker did it, or more came
  seen_bytes.store(0, std::memory_order_relaxed);
  malloc_trim(0);
  return true;
}

}  // namespace gh::core
