// Micro-benchmark of the rate_limit policy's local store (TokenBuckets::take):
// what a request pays for `rate_limit: {store: local}` (issue goal: under
// 0.5 us). Build by hand (not part of the CMake build):
//   g++ -std=c++20 -O2 -DNDEBUG -Isrc bench/micro/rate_limit_bench.cc src/policy/token_buckets.cc \
//       -lbenchmark -lbenchmark_main -pthread -o /tmp/rl_bench && /tmp/rl_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "policy/token_buckets.h"

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One client address taking tokens (always allowed): the common case.
void BM_TakeOneKey(benchmark::State& st) {
  gh::policy::TokenBuckets b(1e9, 1e9);
  for (auto _ : st) benchmark::DoNotOptimize(b.take("203.0.113.77", now_ns()));
}
BENCHMARK(BM_TakeOneKey)->Threads(1)->Threads(2);

// 10,000 clients in turn (hash probes over a larger table).
void BM_TakeManyKeys(benchmark::State& st) {
  gh::policy::TokenBuckets b(1e9, 1e9);
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) keys.push_back("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(b.take(keys[i++ % keys.size()], now_ns()));
}
BENCHMARK(BM_TakeManyKeys);

}  // namespace
