// Passive health: failures back a backend off, and an ejection (a usable
// backend taken out) is counted once per back-off, not per failure.
#include <gtest/gtest.h>

#include "upstream/passive_health.h"

namespace gh::upstream {
namespace {

TEST(PassiveHealth, EjectionsCountTransitionsNotFailures) {
  Backend b;
  record_failure(b, true, 1000);          // out until 2000
  EXPECT_FALSE(b.usable(1500));
  EXPECT_EQ(b.ejections.load(), 1u);
  record_failure(b, true, 1500);          // still out: the back-off grows, no new ejection
  EXPECT_EQ(b.ejections.load(), 1u);
  EXPECT_EQ(b.failures.load(), 2u);
  record_failure(b, true, 60000);         // usable again by then: a second ejection
  EXPECT_EQ(b.ejections.load(), 2u);
}

TEST(PassiveHealth, SingleBackendIsNeverEjected) {
  Backend b;
  record_failure(b, false, 1000);
  EXPECT_TRUE(b.usable(1001));
  EXPECT_EQ(b.ejections.load(), 0u);
  EXPECT_EQ(b.failures.load(), 1u);
}

TEST(PassiveHealth, BackendsSharingStateShareCounters) {
  Backend a;
  Backend b(a.state);   // the same route and name in the next snapshot
  record_failure(a, true, 1000);
  b.requests.fetch_add(3);
  EXPECT_FALSE(b.usable(1500));
  EXPECT_EQ(b.failures.load(), 1u);
  EXPECT_EQ(a.requests.load(), 3u);
  EXPECT_TRUE(b.active_up.load());   // the health checker's verdict is per object
}

}  // namespace
}  // namespace gh::upstream
