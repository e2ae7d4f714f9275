// Statistics written by one thread and read by any (the metrics scraper).
// The owner adds with a relaxed load and a relaxed store, which compile to a
// plain load/add/store: no lock and no locked read-modify-write on the
// request path. Readers see a value that may be a moment old, never a torn
// one. Only the owning thread may write; totals come from summing the
// owners' values when read (see docs/architecture.md, "Metrics").
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gh::core {

// A monotonically increasing count. add() from the owning thread only.
class LocalCounter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down (active connections on one worker). The
// owning thread changes it; summed across owners it may be read as a total.
class LocalGauge {
 public:
  void add(int64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(int64_t n = 1) { add(-n); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// The duration buckets every latency histogram uses, upper bounds in
// seconds: Prometheus's default buckets (5 ms to 10 s) with 1 ms and 2.5 ms
// below them, because a proxy and a backend on one network answer well
// under 5 ms and would otherwise all land in the first bucket.
inline constexpr std::array<double, 13> kDurationBuckets{.001, .0025, .005, .01, .025, .05, .1,
                                                         .25,  .5,    1,    2.5, 5,    10};

// A latency histogram in kDurationBuckets: per-bucket counts (not
// cumulative; the last is above the largest bound) and the sum in
// microseconds (an integer, so the owner's add stays a plain add).
// observe() from the owning thread only.
class LocalHistogram {
 public:
  static constexpr size_t kBuckets = kDurationBuckets.size() + 1;
  // `seconds` < 0 counts as 0.
  void observe(double seconds) {
    if (seconds < 0) seconds = 0;
    size_t i = 0;
    while (i < kDurationBuckets.size() && seconds > kDurationBuckets[i]) ++i;
    counts_[i].add();
    sum_us_.add(static_cast<uint64_t>(seconds * 1e6 + 0.5));
  }
  uint64_t bucket(size_t i) const { return counts_[i].get(); }
  uint64_t sum_us() const { return sum_us_.get(); }

 private:
  std::array<LocalCounter, kBuckets> counts_;
  LocalCounter sum_us_;
};

// A histogram's totals (summed over workers), for rendering.
struct HistogramTotals {
  std::array<uint64_t, LocalHistogram::kBuckets> counts{};  // per bucket, not cumulative
  uint64_t sum_us = 0;
  void add(const LocalHistogram& h) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += h.bucket(i);
    sum_us += h.sum_us();
  }
  void add(const HistogramTotals& o) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
    sum_us += o.sum_us;
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t c : counts) n += c;
    return n;
  }
};

}  // namespace gh::core
