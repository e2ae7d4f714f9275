// policy::TokenBuckets: the local store of `rate_limit` (exact counts, refill,
// keys apart, bounded memory).
#include "policy/token_buckets.h"

#include <gtest/gtest.h>

#include <string>

using gh::policy::TokenBuckets;

namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(TokenBuckets, ABurstThenTheRate) {
  TokenBuckets b(2.0, 3.0);   // 2/s, burst 3
  const int64_t t0 = 100 * kSec;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take("a", t0).allowed) << i;
  TokenBuckets::Take t = b.take("a", t0);
  EXPECT_FALSE(t.allowed);
  EXPECT_NEAR(t.retry_after_s, 0.5, 1e-9);   // one token every 0.5 s
  EXPECT_FALSE(b.take("a", t0 + kSec / 2 - 1).allowed);
  EXPECT_TRUE(b.take("a", t0 + kSec / 2).allowed);
  EXPECT_FALSE(b.take("a", t0 + kSec / 2).allowed);
  // A long pause refills to the burst, never past it.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take("a", t0 + 100 * kSec).allowed) << i;
  EXPECT_FALSE(b.take("a", t0 + 100 * kSec).allowed);
}

TEST(TokenBuckets, KeysAreApart) {
  TokenBuckets b(1.0, 1.0);
  EXPECT_TRUE(b.take("10.0.0.1", 0).allowed);
  EXPECT_FALSE(b.take("10.0.0.1", 0).allowed);
  EXPECT_TRUE(b.take("10.0.0.2", 0).allowed);
  EXPECT_TRUE(b.take("", 0).allowed);   // (e.g. requests without the keyed field)
  EXPECT_EQ(b.size(), 3u);
}

TEST(TokenBuckets, RemainingAndFullIn) {
  TokenBuckets b(10.0, 5.0);
  TokenBuckets::Take t = b.take("k", 0);
  EXPECT_TRUE(t.allowed);
  EXPECT_EQ(t.remaining, 4u);
  EXPECT_NEAR(t.full_in_s, 0.1, 1e-9);
}

TEST(TokenBuckets, AClockStepBackAddsNothing) {
  TokenBuckets b(1.0, 1.0);
  EXPECT_TRUE(b.take("k", 10 * kSec).allowed);
  EXPECT_FALSE(b.take("k", 5 * kSec).allowed);
  EXPECT_FALSE(b.take("k", 10 * kSec).allowed);
  EXPECT_TRUE(b.take("k", 11 * kSec).allowed);
}

TEST(TokenBuckets, MemoryIsBounded) {
  TokenBuckets b(1.0, 1.0);
  const size_t n = TokenBuckets::kShards * TokenBuckets::kMaxPerShard + 5000;
  for (size_t i = 0; i < n; ++i) b.take("k" + std::to_string(i), 0);   // none refills: nothing to sweep
  EXPECT_LE(b.size(), TokenBuckets::kShards * TokenBuckets::kMaxPerShard);
  // Later, every bucket has refilled: the sweep makes room without losing state that matters.
  for (size_t i = 0; i < 5000; ++i) b.take("z" + std::to_string(i), 10 * kSec);
  EXPECT_LE(b.size(), TokenBuckets::kShards * TokenBuckets::kMaxPerShard);
}

}  // namespace
