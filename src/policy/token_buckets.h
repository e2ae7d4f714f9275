// Token buckets by key for a `rate_limit` policy with `store: local`: each
// key's bucket holds at most `capacity` tokens and refills at `per_second`;
// a request takes one. Exact within the process: the buckets are sharded
// by key, each shard behind a mutex held for one hash probe and a few
// arithmetic operations (workers share them, so a client spread over
// connections, or over HTTP/2 streams, meets one limit).
//
// Memory: one entry per key seen recently. A bucket that has refilled is
// the same as none, so such entries are swept when a shard grows; a shard
// never holds more than kMaxPerShard keys (past that, with nothing to sweep,
// the shard starts over: its clients get full buckets, i.e. the limit fails
// open for them rather than the process growing without bound).
#pragma once

#include "core/string_map.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gh::policy {

class TokenBuckets {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 1 << 16;

  // `per_second` > 0, `capacity` >= 1.
  TokenBuckets(double per_second, double capacity);

  struct Take {
    bool allowed = false;
    uint64_t remaining = 0;     // whole tokens left after this request
    double retry_after_s = 0;   // refused: seconds until a token is there
    double full_in_s = 0;       // seconds until the bucket is full again
  };
  // Takes one token from `key`'s bucket at `now_ns` (a steady clock, ns).
  Take take(std::string_view key, int64_t now_ns);

  // Keys held now (for tests and status).
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    int64_t at_ns;
  };
  struct Shard {
    mutable std::mutex mu;
    core::StringMap<Bucket> buckets;
  };
  double refilled(const Bucket& b, int64_t now_ns) const;

  double per_ns_;
  double capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace gh::policy
