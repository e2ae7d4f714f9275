// MinRate: the request body's minimum pace (limits.request_body_min_rate).
#include "proxy/min_rate.h"

#include <gtest/gtest.h>

using gh::proxy::kMinRateGraceMs;
using gh::proxy::MinRate;
using std::chrono::milliseconds;

TEST(MinRate, OffLeavesTheTimeout) {
  MinRate r;
  r.set(0, false);
  bool by_rate = true;
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(60000));
  EXPECT_FALSE(by_rate);
  r.arrived(1, 100000);
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(60000));
  EXPECT_FALSE(r.active());
}

TEST(MinRate, StartsWithTheGrace) {
  MinRate r;
  r.set(1024, false);
  bool by_rate = false;
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(kMinRateGraceMs));
  EXPECT_TRUE(by_rate);
  // A shorter timeout still wins, and is a timeout.
  EXPECT_EQ(r.bound(milliseconds(1000), by_rate), milliseconds(1000));
  EXPECT_FALSE(by_rate);
}

TEST(MinRate, BytesEarnWaitingAndWaitingSpendsIt) {
  MinRate r;
  r.set(1000, false);   // 1 ms per byte
  r.arrived(0, 4000);   // waited 4 s for nothing: 1 s left
  bool by_rate = false;
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(1000));
  r.arrived(500, 0);    // +0.5 s
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(1500));
  r.arrived(0, 2000);   // overdrawn: no wait left at all
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(0));
  EXPECT_TRUE(by_rate);
}

TEST(MinRate, ABurstBanksNoMoreThanTheGrace) {
  MinRate r;
  r.set(1000, false);
  r.arrived(1 << 30, 0);   // a GiB at once
  bool by_rate = false;
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(kMinRateGraceMs));
  r.arrived(0, kMinRateGraceMs);
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(0));
}

TEST(MinRate, FromFirstByteWaitsUnboundedByTheRateUntilDataArrives) {
  MinRate r;
  r.set(1024, true);   // Expect: 100-continue
  bool by_rate = true;
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(60000));
  EXPECT_FALSE(by_rate);
  r.arrived(10, 30000);   // the wait before the first byte is not charged
  EXPECT_EQ(r.bound(milliseconds(60000), by_rate), milliseconds(kMinRateGraceMs));
  EXPECT_TRUE(by_rate);
}
