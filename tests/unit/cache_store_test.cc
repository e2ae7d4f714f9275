// cache::Store: variants by Vary, LRU eviction by bytes, max_object,
// invalidation and purge, stats.
#include "cache/store.h"

#include <gtest/gtest.h>

#include <thread>

#include "cache/key.h"

using namespace gh::cache;
using gh::http::Field;

namespace {

std::shared_ptr<const Entry> entry(std::string key, std::string body,
                                   std::vector<OwnedField> fields = {},
                                   std::span<const Field> request = {}) {
  auto e = std::make_shared<Entry>();
  e->primary_key = std::move(key);
  e->body = std::move(body);
  e->fields = std::move(fields);
  e->seal();
  std::span<const Field> views = e->field_views();
  if (!vary_unmatchable(views)) append_secondary_key(e->secondary_key, views, request);
  return e;
}

TEST(Store, StoresAndFinds) {
  Store s(1 << 20, 64 << 10);
  EXPECT_EQ(s.lookup("http://a/x", {}), nullptr);
  ASSERT_TRUE(s.insert(entry("http://a/x", "hello")));
  auto got = s.lookup("http://a/x", {});
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->body, "hello");
  EXPECT_EQ(s.lookup("http://a/y", {}), nullptr);
  StoreStats st = s.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.stores, 1u);
  EXPECT_EQ(st.entries, 1u);
  EXPECT_GT(st.bytes, 5u);
}

TEST(Store, VaryVariantsAreSelectedByTheRequest) {
  Store s(1 << 20, 64 << 10);
  const std::vector<OwnedField> vary = {{"Vary", "Accept-Encoding"}};
  const Field gz[] = {{"Accept-Encoding", "gzip"}};
  const Field br[] = {{"accept-encoding", "br"}};
  ASSERT_TRUE(s.insert(entry("k", "gzip body", vary, gz)));
  ASSERT_TRUE(s.insert(entry("k", "br body", vary, br)));
  EXPECT_EQ(s.lookup("k", gz)->body, "gzip body");
  EXPECT_EQ(s.lookup("k", br)->body, "br body");
  EXPECT_EQ(s.lookup("k", {}), nullptr);   // no Accept-Encoding: another variant
  // The same variant again replaces it.
  ASSERT_TRUE(s.insert(entry("k", "gzip body 2", vary, gz)));
  EXPECT_EQ(s.lookup("k", gz)->body, "gzip body 2");
  EXPECT_EQ(s.stats().entries, 2u);
}

TEST(Store, RefusesObjectsOverMaxObject) {
  Store s(1 << 20, 1000);
  EXPECT_FALSE(s.insert(entry("big", std::string(2000, 'x'))));
  EXPECT_TRUE(s.insert(entry("small", std::string(100, 'x'))));
  EXPECT_EQ(s.stats().stores, 1u);
}

TEST(Store, EvictsLeastRecentlyUsedByBytes) {
  Store s(4000, 4000);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.insert(entry("k" + std::to_string(i), std::string(1000, 'x'))));
  ASSERT_NE(s.lookup("k0", {}), nullptr);   // k0 used: k1 is now the oldest
  ASSERT_TRUE(s.insert(entry("k3", std::string(1000, 'x'))));
  EXPECT_EQ(s.lookup("k1", {}), nullptr);
  EXPECT_NE(s.lookup("k0", {}), nullptr);
  EXPECT_NE(s.lookup("k2", {}), nullptr);
  EXPECT_NE(s.lookup("k3", {}), nullptr);
  EXPECT_GE(s.stats().evictions, 1u);
  EXPECT_LE(s.stats().bytes, 4000u);
}

// The budget and the LRU order are the whole store's, whatever shards the
// keys fall in: what fits stays, and the least recently used goes first.
TEST(Store, TheBudgetIsTheWholeStores) {
  Store s(40'000, 5000);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(s.insert(entry("k" + std::to_string(i), std::string(3500, 'x'))));
  for (int i = 0; i < 10; ++i) EXPECT_NE(s.lookup("k" + std::to_string(i), {}), nullptr) << i;
  EXPECT_EQ(s.stats().evictions, 0u);
  // Now k0 is the least recently used of all, k1 next.
  for (int i = 2; i < 10; ++i) ASSERT_NE(s.lookup("k" + std::to_string(i), {}), nullptr);
  ASSERT_TRUE(s.insert(entry("k10", std::string(3500, 'x'))));
  ASSERT_TRUE(s.insert(entry("k11", std::string(3500, 'x'))));
  EXPECT_EQ(s.lookup("k0", {}), nullptr);
  EXPECT_EQ(s.lookup("k1", {}), nullptr);
  for (int i = 2; i < 12; ++i) EXPECT_NE(s.lookup("k" + std::to_string(i), {}), nullptr) << i;
  EXPECT_EQ(s.stats().evictions, 2u);
  EXPECT_LE(s.stats().bytes, 40'000u);
}

TEST(Store, AnEntryOutlivesItsEviction) {
  Store s(2000, 2000);
  ASSERT_TRUE(s.insert(entry("a", std::string(1000, 'a'))));
  auto held = s.lookup("a", {});
  ASSERT_TRUE(s.insert(entry("b", std::string(1500, 'b'))));
  EXPECT_EQ(s.lookup("a", {}), nullptr);
  EXPECT_EQ(held->body, std::string(1000, 'a'));   // still ours to send
}

TEST(Store, EraseAndPurgeByPrefix) {
  Store s(1 << 20, 64 << 10);
  const std::vector<OwnedField> vary = {{"Vary", "Accept-Encoding"}};
  const Field gz[] = {{"Accept-Encoding", "gzip"}};
  ASSERT_TRUE(s.insert(entry("https://a/app/1", "1", vary, gz)));
  ASSERT_TRUE(s.insert(entry("https://a/app/1", "1b")));
  ASSERT_TRUE(s.insert(entry("https://a/app/2", "2")));
  ASSERT_TRUE(s.insert(entry("https://a/other", "3")));
  EXPECT_EQ(s.erase("https://a/app/1"), 2u);   // every variant
  EXPECT_EQ(s.erase("https://a/app/1"), 0u);
  EXPECT_EQ(s.erase_prefix("https://a/app/"), 1u);
  EXPECT_NE(s.lookup("https://a/other", {}), nullptr);
  EXPECT_EQ(s.stats().entries, 1u);
}

TEST(Store, ManyThreadsAtOnce) {
  Store s(256 << 10, 8 << 10);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&s, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string k = "k" + std::to_string((i * 7 + t) % 300);
        if (i % 3 == 0) s.insert(entry(k, std::string(500 + i % 1000, 'x')));
        else if (i % 17 == 0) s.erase(k);
        else s.lookup(k, {});
      }
    });
  }
  for (auto& t : ts) t.join();
  StoreStats st = s.stats();
  EXPECT_LE(st.bytes, 256u << 10);
  EXPECT_GT(st.stores, 0u);
}

}  // namespace

namespace {

// Vary on a field every client sets differently: one key keeps at most
// kMaxVariants variants, the least recently used going first.
TEST(Store, VariantsPerKeyAreBounded) {
  Store s(16 << 20, 64 << 10);
  const std::vector<OwnedField> vary = {{"Vary", "X-Foo"}};
  std::vector<std::string> values;
  for (size_t i = 0; i < Store::kMaxVariants + 8; ++i) values.push_back("v" + std::to_string(i));
  for (size_t i = 0; i < values.size(); ++i) {
    const Field req[] = {{"X-Foo", values[i]}};
    ASSERT_TRUE(s.insert(entry("https://a/x", values[i], vary, req)));
    if (i == Store::kMaxVariants - 1) {   // (before the first eviction)
      const Field first[] = {{"X-Foo", values[0]}};
      ASSERT_NE(s.lookup("https://a/x", first), nullptr);   // v0 used again: v1 is the oldest
    }
  }
  EXPECT_EQ(s.stats().entries, Store::kMaxVariants);
  const Field v0[] = {{"X-Foo", values[0]}}, v1[] = {{"X-Foo", values[1]}},
              last[] = {{"X-Foo", values.back()}};
  EXPECT_NE(s.lookup("https://a/x", v0), nullptr);
  EXPECT_EQ(s.lookup("https://a/x", v1), nullptr);
  EXPECT_NE(s.lookup("https://a/x", last), nullptr);
}

}  // namespace
