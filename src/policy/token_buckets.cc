#include "policy/token_buckets.h"

#include <algorithm>

namespace gh::policy {

TokenBuckets::TokenBuckets(double per_second, double capacity)
    : per_ns_(per_second / 1e9), capacity_(std::max(capacity, 1.0)) {
  shards_.reserve(kShards);
  for (size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
}

double TokenBuckets::refilled(const Bucket& b, int64_t now_ns) const {
  // (A clock that seems to step back adds nothing.)
  const double gained = now_ns > b.at_ns ? double(now_ns - b.at_ns) * per_ns_ : 0.0;
  return std::min(capacity_, b.tokens + gained);
}

TokenBuckets::Take TokenBuckets::take(std::string_view key, int64_t now_ns) {
  Shard& s = *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= kMaxPerShard) {
      std::erase_if(s.buckets, [&](const auto& kv) { return refilled(kv.second, now_ns) >= capacity_; });
      if (s.buckets.size() >= kMaxPerShard) s.buckets.clear();
    }
    it = s.buckets.emplace(std::string(key), Bucket{capacity_, now_ns}).first;
  }
  Bucket& b = it->second;
  b.tokens = refilled(b, now_ns);
  b.at_ns = std::max(b.at_ns, now_ns);
  Take t;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    t.allowed = true;
  } else {
    t.retry_after_s = (1.0 - b.tokens) / (per_ns_ * 1e9);
  }
  t.remaining = static_cast<uint64_t>(b.tokens);
  t.full_in_s = (capacity_ - b.tokens) / (per_ns_ * 1e9);
  return t;
}

size_t TokenBuckets::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->buckets.size();
  }
  return n;
}

}  // namespace gh::policy
