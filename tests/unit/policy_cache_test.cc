// policy::CacheRule: the table of fetches in flight (request collapsing,
// hit-for-miss after an unstorable response, invalidation of fetches that
// started before a write).
#include "policy/cache.h"

#include <gtest/gtest.h>

using gh::policy::CacheRule;

namespace {

gh::config::Cache conf() {
  gh::config::Cache c;
  c.enabled = true;
  c.max_size = 1 << 20;
  c.max_object = 64 << 10;
  return c;
}

TEST(CacheRuleFill, OneLeaderTheRestWait) {
  CacheRule r(conf());
  std::shared_ptr<CacheRule::Fill> lead, w1, w2;
  EXPECT_EQ(r.join("k", 0, lead), CacheRule::Join::lead);
  EXPECT_EQ(r.join("k", 0, w1), CacheRule::Join::wait);
  EXPECT_EQ(r.join("k", 0, w2), CacheRule::Join::wait);
  EXPECT_EQ(w1, lead);
  std::shared_ptr<CacheRule::Fill> other;
  EXPECT_EQ(r.join("other", 0, other), CacheRule::Join::lead);
  r.finish("k", lead, true, 0);
  EXPECT_TRUE(lead->stored());
  std::shared_ptr<CacheRule::Fill> next;
  EXPECT_EQ(r.join("k", 1, next), CacheRule::Join::lead);   // the fetch is over
}

TEST(CacheRuleFill, AnUnstorableResponseStopsTheWaitingForAWhile) {
  CacheRule r(conf());
  std::shared_ptr<CacheRule::Fill> lead, f;
  ASSERT_EQ(r.join("k", 0, lead), CacheRule::Join::lead);
  r.finish("k", lead, false, 1000);
  EXPECT_FALSE(lead->stored());
  EXPECT_EQ(r.join("k", 1000 + CacheRule::kPassMs - 1, f), CacheRule::Join::pass);
  EXPECT_EQ(r.join("k", 1000 + CacheRule::kPassMs, f), CacheRule::Join::lead);
}

TEST(CacheRuleFlight, InvalidationVoidsTheKeysFetchesInFlight) {
  CacheRule r(conf());
  auto a = r.begin_flight("k");
  auto b = r.begin_flight("k");
  auto c = r.begin_flight("other");
  std::shared_ptr<CacheRule::Fill> lead;
  ASSERT_EQ(r.join("k", 0, lead), CacheRule::Join::lead);
  r.invalidate("k");
  EXPECT_TRUE(a->voided());
  EXPECT_TRUE(b->voided());
  EXPECT_FALSE(c->voided());
  // Later requests do not wait for the voided fetch.
  std::shared_ptr<CacheRule::Fill> after;
  EXPECT_EQ(r.join("k", 0, after), CacheRule::Join::lead);
  EXPECT_NE(after, lead);
  // A fetch begun after the write is not voided by it.
  auto d = r.begin_flight("k");
  EXPECT_FALSE(d->voided());
  r.end_flight("k", a);   // (already dropped by invalidate: harmless)
  r.end_flight("k", d);
  r.end_flight("other", c);
  r.invalidate("k");
  EXPECT_FALSE(d->voided());   // ended before this write
}

}  // namespace
