// Balancers: distributions, smooth interleaving, load awareness, ring
// stability, and the skipping rules (health, exclusion, backups) for every kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "upstream/balancer.h"

namespace gh::upstream {
namespace upstream_balancer_test {

using config::Balance;

constexpr std::array kAllKinds = {Balance::round_robin, Balance::least_conn, Balance::ip_hash,
                                  Balance::random};

const char* kind_name(Balance k) {
  switch (k) {
    case Balance::round_robin: return "round_robin";
    case Balance::least_conn: return "least_conn";
    case Balance::ip_hash: return "ip_hash";
    case Balance::random: return "random";
  }
  return "?";
}

// Backends hold atomics (not movable), so the pool keeps them on the heap.
struct Pool {
  std::vector<std::unique_ptr<Backend>> owned;

  Backend* add(const std::string& name, unsigned weight = 1, bool backup = false) {
    auto b = std::make_unique<Backend>();
    b->host = name;
    b->port = 80;
    b->name = name + ":80";
    b->weight = weight;
    b->backup = backup;
    owned.push_back(std::move(b));
    return owned.back().get();
  }
  std::vector<Backend*> all() const {
    std::vector<Backend*> v;
    for (const auto& b : owned) v.push_back(b.get());
    return v;
  }
};

PickContext at(int64_t now_ms, uint64_t client_hash = 0) {
  PickContext ctx;
  ctx.now_ms = now_ms;
  ctx.client_hash = client_hash;
  return ctx;
}

uint64_t key_of(uint32_t i) {
  const std::array<uint8_t, 4> ip = {10, static_cast<uint8_t>(i >> 16),
                                     static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  return hash_client_address(ip);
}

std::map<Backend*, int> count_picks(Balancer& bal, int picks, int64_t now = 1000) {
  std::map<Backend*, int> counts;
  for (int i = 0; i < picks; ++i) {
    Backend* b = bal.pick(at(now, key_of(static_cast<uint32_t>(i))));
    EXPECT_NE(b, nullptr);
    ++counts[b];
  }
  return counts;
}

// ---------------------------------------------------------------- round_robin

TEST(BalancerRoundRobin, EqualWeightsRotate) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  auto bal = make_balancer(Balance::round_robin, p.all());
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(bal->pick(at(0)), a);
    EXPECT_EQ(bal->pick(at(0)), b);
    EXPECT_EQ(bal->pick(at(0)), c);
  }
}

TEST(BalancerRoundRobin, DistributionMatchesWeights) {
  Pool p;
  Backend* a = p.add("a", 5);
  Backend* b = p.add("b", 3);
  Backend* c = p.add("c", 2);
  auto bal = make_balancer(Balance::round_robin, p.all());
  auto counts = count_picks(*bal, 10000);
  std::printf("round_robin {5,3,2} over 10000: %d %d %d\n", counts[a], counts[b], counts[c]);
  // Smooth WRR is exact over every full cycle of 10 picks.
  EXPECT_EQ(counts[a], 5000);
  EXPECT_EQ(counts[b], 3000);
  EXPECT_EQ(counts[c], 2000);
}

TEST(BalancerRoundRobin, SmoothSequenceIsInterleaved) {
  Pool p;
  Backend* a = p.add("a", 5);
  Backend* b = p.add("b", 1);
  Backend* c = p.add("c", 1);
  auto bal = make_balancer(Balance::round_robin, p.all());
  std::string seq;
  for (int i = 0; i < 70; ++i) {
    Backend* x = bal->pick(at(0));
    seq += x == a ? 'a' : x == b ? 'b' : x == c ? 'c' : '?';
  }
  std::printf("round_robin {5,1,1}: %s\n", seq.substr(0, 14).c_str());
  EXPECT_EQ(seq.substr(0, 7), "aabacaa");
  size_t run = 0, longest = 0;
  for (char ch : seq) {
    run = ch == 'a' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  // Plain weighted RR would send 5 in a row; the smooth one never reaches the weight.
  EXPECT_LT(longest, 5u);
  for (size_t cycle = 0; cycle < seq.size(); cycle += 7) {
    std::string w = seq.substr(cycle, 7);
    EXPECT_EQ(std::count(w.begin(), w.end(), 'a'), 5) << w;
    EXPECT_EQ(std::count(w.begin(), w.end(), 'b'), 1) << w;
    EXPECT_EQ(std::count(w.begin(), w.end(), 'c'), 1) << w;
  }
}

TEST(BalancerRoundRobin, SkipsDownAndExcludedKeepsRotatingTheRest) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  auto bal = make_balancer(Balance::round_robin, p.all());
  b->active_up = false;
  std::array<Backend*, 1> ex = {c};
  PickContext ctx = at(0);
  ctx.exclude = ex;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bal->pick(ctx), a);
  for (int i = 0; i < 6; ++i) {
    Backend* x = bal->pick(at(0));
    EXPECT_NE(x, b);
  }
}

// ----------------------------------------------------------------- least_conn

TEST(BalancerLeastConn, PrefersTheLightest) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  a->in_flight = 3;
  b->in_flight = 1;
  c->in_flight = 2;
  auto bal = make_balancer(Balance::least_conn, p.all());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bal->pick(at(0)), b);
}

TEST(BalancerLeastConn, RespectsWeights) {
  Pool p;
  Backend* a = p.add("a", 4);
  Backend* b = p.add("b", 1);
  a->in_flight = 3;  // 3/4 per unit of weight
  b->in_flight = 1;  // 1/1
  auto bal = make_balancer(Balance::least_conn, p.all());
  EXPECT_EQ(bal->pick(at(0)), a);

  // Fill up from idle, never finishing: in_flight ends in the ratio of weights.
  a->in_flight = 0;
  b->in_flight = 0;
  for (int i = 0; i < 1000; ++i) bal->pick(at(0))->in_flight++;
  std::printf("least_conn {4,1} fill 1000: %d %d\n", a->in_flight.load(), b->in_flight.load());
  EXPECT_EQ(a->in_flight, 800);
  EXPECT_EQ(b->in_flight, 200);
}

TEST(BalancerLeastConn, TiesGoRoundRobin) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  auto bal = make_balancer(Balance::least_conn, p.all());
  EXPECT_EQ(bal->pick(at(0)), a);
  EXPECT_EQ(bal->pick(at(0)), b);
  EXPECT_EQ(bal->pick(at(0)), c);
  EXPECT_EQ(bal->pick(at(0)), a);
  b->in_flight = 5;  // only a and c tie now
  EXPECT_NE(bal->pick(at(0)), b);
  std::map<Backend*, int> counts;
  for (int i = 0; i < 10; ++i) ++counts[bal->pick(at(0))];
  EXPECT_EQ(counts[a], 5);
  EXPECT_EQ(counts[c], 5);
}

TEST(BalancerLeastConn, IdleTiesFollowWeights) {
  Pool p;
  Backend* a = p.add("a", 3);
  Backend* b = p.add("b", 1);
  auto bal = make_balancer(Balance::least_conn, p.all());
  auto counts = count_picks(*bal, 10000);
  EXPECT_EQ(counts[a], 7500);
  EXPECT_EQ(counts[b], 2500);
}

// -------------------------------------------------------------------- ip_hash

TEST(BalancerIpHash, SameKeySameBackendInEveryInstance) {
  Pool p;
  for (int i = 0; i < 4; ++i) p.add("10.0.0." + std::to_string(i + 1));
  auto one = make_balancer(Balance::ip_hash, p.all());
  // Another worker, with the config listing backends in another order.
  auto reversed = p.all();
  std::reverse(reversed.begin(), reversed.end());
  auto two = make_balancer(Balance::ip_hash, reversed);
  for (uint32_t k = 0; k < 2000; ++k) {
    Backend* first = one->pick(at(0, key_of(k)));
    EXPECT_EQ(one->pick(at(0, key_of(k))), first);
    EXPECT_EQ(two->pick(at(0, key_of(k))), first);
  }
}

TEST(BalancerIpHash, SpreadsKeysByWeight) {
  Pool p;
  Backend* a = p.add("a", 1);
  Backend* b = p.add("b", 1);
  Backend* c = p.add("c", 2);
  auto bal = make_balancer(Balance::ip_hash, p.all());
  auto counts = count_picks(*bal, 10000);
  std::printf("ip_hash {1,1,2} over 10000 keys: %d %d %d\n", counts[a], counts[b], counts[c]);
  // Virtual nodes are statistical: allow a wider band than for the others.
  EXPECT_NEAR(counts[a], 2500, 500);
  EXPECT_NEAR(counts[b], 2500, 500);
  EXPECT_NEAR(counts[c], 5000, 700);
}

TEST(BalancerIpHash, AddingAFifthBackendMovesAboutAFifth) {
  Pool p;
  for (int i = 0; i < 5; ++i) p.add("10.0.0." + std::to_string(i + 1));
  auto all = p.all();
  auto four = make_balancer(Balance::ip_hash, {all.begin(), all.begin() + 4});
  auto five = make_balancer(Balance::ip_hash, all);
  int moved = 0;
  for (uint32_t k = 0; k < 10000; ++k) {
    Backend* before = four->pick(at(0, key_of(k)));
    Backend* after = five->pick(at(0, key_of(k)));
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, all[4]) << "a key moved between two old backends";
    }
  }
  std::printf("ip_hash 4 -> 5 backends: %d of 10000 keys moved\n", moved);
  EXPECT_GE(moved, 1500);
  EXPECT_LE(moved, 2500);
}

TEST(BalancerIpHash, RemovingOrMarkingDownMovesOnlyThatBackendsKeys) {
  Pool p;
  for (int i = 0; i < 5; ++i) p.add("10.0.0." + std::to_string(i + 1));
  auto all = p.all();
  Backend* gone = all[2];
  auto full = make_balancer(Balance::ip_hash, all);
  std::vector<Backend*> rest = {all[0], all[1], all[3], all[4]};
  auto removed = make_balancer(Balance::ip_hash, rest);

  std::vector<Backend*> before;
  for (uint32_t k = 0; k < 10000; ++k) before.push_back(full->pick(at(0, key_of(k))));

  gone->active_up = false;
  std::map<Backend*, int> heirs;
  int owned = 0;
  for (uint32_t k = 0; k < 10000; ++k) {
    Backend* down = full->pick(at(0, key_of(k)));
    Backend* without = removed->pick(at(0, key_of(k)));
    ASSERT_NE(down, gone);
    // Marking down and removing agree, key for key.
    EXPECT_EQ(down, without);
    if (before[k] == gone) {
      ++owned;
      ++heirs[down];
    } else {
      EXPECT_EQ(down, before[k]) << "key " << k << " moved though its backend stayed up";
    }
  }
  std::printf("ip_hash: %d keys of the downed backend went to %zu others\n", owned, heirs.size());
  EXPECT_GT(owned, 1000);
  // The orphaned keys spread out instead of all landing on one neighbour.
  EXPECT_GE(heirs.size(), 3u);

  gone->active_up = true;
  for (uint32_t k = 0; k < 10000; ++k) EXPECT_EQ(full->pick(at(0, key_of(k))), before[k]);
}

TEST(BalancerIpHash, ExcludedWalksToAnotherBackend) {
  Pool p;
  for (int i = 0; i < 3; ++i) p.add("b" + std::to_string(i));
  auto bal = make_balancer(Balance::ip_hash, p.all());
  for (uint32_t k = 0; k < 100; ++k) {
    Backend* home = bal->pick(at(0, key_of(k)));
    std::array<Backend*, 1> ex = {home};
    PickContext ctx = at(0, key_of(k));
    ctx.exclude = ex;
    Backend* retry = bal->pick(ctx);
    ASSERT_NE(retry, nullptr);
    EXPECT_NE(retry, home);
    EXPECT_EQ(bal->pick(ctx), retry);  // the retry target is stable too
  }
}

TEST(BalancerIpHash, BackendsWithoutNameUseHostAndPort) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  a->name.clear();
  b->name.clear();
  auto bal = make_balancer(Balance::ip_hash, p.all());
  auto counts = count_picks(*bal, 2000);
  EXPECT_GT(counts[a], 600);
  EXPECT_GT(counts[b], 600);
}

TEST(BalancerIpHash, HugeWeightsStillBalance) {
  Pool p;
  Backend* a = p.add("a", 1000);
  Backend* b = p.add("b", 1000);
  Backend* c = p.add("c", 10);
  auto bal = make_balancer(Balance::ip_hash, p.all());
  auto counts = count_picks(*bal, 10000);
  EXPECT_NEAR(counts[a], 4975, 600);
  EXPECT_NEAR(counts[b], 4975, 600);
  EXPECT_GT(counts[c], 0);
  EXPECT_LT(counts[c], 200);
}

// --------------------------------------------------------------------- random

TEST(BalancerRandom, DistributionMatchesWeights) {
  Pool p;
  Backend* a = p.add("a", 5);
  Backend* b = p.add("b", 3);
  Backend* c = p.add("c", 2);
  auto bal = make_balancer(Balance::random, p.all());
  auto counts = count_picks(*bal, 10000);
  std::printf("random {5,3,2} over 10000: %d %d %d\n", counts[a], counts[b], counts[c]);
  // Binomial sd is at most 50 picks; 3 % is six of them.
  EXPECT_NEAR(counts[a], 5000, 300);
  EXPECT_NEAR(counts[b], 3000, 300);
  EXPECT_NEAR(counts[c], 2000, 300);
}

TEST(BalancerRandom, EqualWeightsAreEven) {
  Pool p;
  for (int i = 0; i < 4; ++i) p.add("b" + std::to_string(i));
  auto bal = make_balancer(Balance::random, p.all());
  auto counts = count_picks(*bal, 10000);
  for (auto& [b, n] : counts) EXPECT_NEAR(n, 2500, 300) << b->name;
}

TEST(BalancerRandom, TwoChoicesAvoidTheBusyOne) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  a->in_flight = 50;
  auto bal = make_balancer(Balance::random, p.all());
  auto counts = count_picks(*bal, 3000);
  // `a` loses every pair it is drawn into.
  EXPECT_EQ(counts[a], 0);
  EXPECT_GT(counts[b], 1000);
  EXPECT_GT(counts[c], 1000);
}

TEST(BalancerRandom, InstancesAreSeededDifferently) {
  Pool p;
  for (int i = 0; i < 8; ++i) p.add("b" + std::to_string(i));
  auto one = make_balancer(Balance::random, p.all());
  auto two = make_balancer(Balance::random, p.all());
  int same = 0;
  for (int i = 0; i < 200; ++i) same += one->pick(at(0)) == two->pick(at(0));
  EXPECT_LT(same, 100);  // about 25 expected by chance
}

// ------------------------------------------------------------------ every kind

class BalancerAnyKind : public ::testing::TestWithParam<Balance> {};

TEST_P(BalancerAnyKind, EmptyListPicksNothing) {
  auto bal = make_balancer(GetParam(), {});
  EXPECT_EQ(bal->pick(at(0)), nullptr);
}

TEST_P(BalancerAnyKind, AllDownPicksNothing) {
  Pool p;
  p.add("a")->active_up = false;
  p.add("b")->passive_down_until = 5000;
  p.add("c", 1, true)->active_up = false;
  auto bal = make_balancer(GetParam(), p.all());
  for (uint32_t k = 0; k < 50; ++k) EXPECT_EQ(bal->pick(at(1000, key_of(k))), nullptr);
}

TEST_P(BalancerAnyKind, SkipsUnusable) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  a->active_up = false;
  auto bal = make_balancer(GetParam(), p.all());
  std::map<Backend*, int> counts = count_picks(*bal, 1000);
  EXPECT_EQ(counts[a], 0);
  EXPECT_GT(counts[b], 0);
  EXPECT_GT(counts[c], 0);
}

TEST_P(BalancerAnyKind, SkipsExcluded) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* c = p.add("c");
  auto bal = make_balancer(GetParam(), p.all());
  std::array<Backend*, 2> ex = {a, c};
  for (uint32_t k = 0; k < 200; ++k) {
    PickContext ctx = at(0, key_of(k));
    ctx.exclude = ex;
    EXPECT_EQ(bal->pick(ctx), b);
  }
  std::array<Backend*, 3> all_ex = {a, b, c};
  PickContext ctx = at(0);
  ctx.exclude = all_ex;
  EXPECT_EQ(bal->pick(ctx), nullptr);
}

TEST_P(BalancerAnyKind, PassiveDownUntilFutureSkippedPastUsed) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  auto bal = make_balancer(GetParam(), p.all());
  a->passive_down_until = 2000;
  std::map<Backend*, int> counts;
  for (uint32_t k = 0; k < 400; ++k) ++counts[bal->pick(at(1999, key_of(k)))];
  EXPECT_EQ(counts[a], 0);
  EXPECT_EQ(counts[b], 400);
  counts.clear();
  for (uint32_t k = 0; k < 400; ++k) ++counts[bal->pick(at(2000, key_of(k)))];
  EXPECT_GT(counts[a], 50);  // the deadline itself counts as past
  EXPECT_GT(counts[b], 50);
}

TEST_P(BalancerAnyKind, BackupsOnlyWhenNoPrimaryIsUsable) {
  Pool p;
  Backend* a = p.add("a");
  Backend* b = p.add("b");
  Backend* x = p.add("x", 1, true);
  Backend* y = p.add("y", 1, true);
  auto bal = make_balancer(GetParam(), p.all());

  auto counts = count_picks(*bal, 400);
  EXPECT_EQ(counts[x] + counts[y], 0);

  a->active_up = false;  // one primary left: still no backup
  counts = count_picks(*bal, 400);
  EXPECT_EQ(counts[b], 400);

  b->passive_down_until = 1'000'000;  // no primary left: backups share the load
  counts = count_picks(*bal, 400);
  EXPECT_EQ(counts[a] + counts[b], 0);
  EXPECT_GT(counts[x], 50);
  EXPECT_GT(counts[y], 50);

  b->passive_down_until = 0;
  std::array<Backend*, 1> ex = {b};  // the usable primary was already tried
  PickContext ctx = at(1000);
  ctx.exclude = ex;
  Backend* got = bal->pick(ctx);
  EXPECT_TRUE(got == x || got == y);

  a->active_up = true;  // primaries back: backups idle again
  counts = count_picks(*bal, 400);
  EXPECT_EQ(counts[x] + counts[y], 0);
}

TEST_P(BalancerAnyKind, OnlyBackupsConfigured) {
  Pool p;
  Backend* x = p.add("x", 1, true);
  auto bal = make_balancer(GetParam(), p.all());
  EXPECT_EQ(bal->pick(at(0)), x);
}

INSTANTIATE_TEST_SUITE_P(Kinds, BalancerAnyKind, ::testing::ValuesIn(kAllKinds),
                         [](const auto& param_info) {
                           return std::string(kind_name(param_info.param));
                         });

// ---------------------------------------------------------- hash_client_address

TEST(BalancerHash, StableAndSpread) {
  const std::array<uint8_t, 4> v4 = {192, 168, 1, 10};
  const std::array<uint8_t, 16> v6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(hash_client_address(v4), hash_client_address(v4));
  EXPECT_NE(hash_client_address(v4), hash_client_address(v6));
  // Trailing zero bytes and the empty input still make a difference.
  const std::array<uint8_t, 5> v4z = {192, 168, 1, 10, 0};
  EXPECT_NE(hash_client_address(v4), hash_client_address(v4z));
  EXPECT_NE(hash_client_address({}), hash_client_address(std::array<uint8_t, 1>{0}));

  // Neighbouring addresses: every output bit is set about half the time, and
  // the top bits fill 16 buckets evenly.
  std::array<int, 64> ones{};
  std::array<int, 16> buckets{};
  const int n = 10000;
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t h = key_of(i);
    for (int bit = 0; bit < 64; ++bit) ones[bit] += (h >> bit) & 1;
    ++buckets[h >> 60];
  }
  for (int bit = 0; bit < 64; ++bit) EXPECT_NEAR(ones[bit], n / 2, 250) << "bit " << bit;
  for (int bk = 0; bk < 16; ++bk) EXPECT_NEAR(buckets[bk], n / 16, 150) << "bucket " << bk;
}

}  // namespace upstream_balancer_test
}  // namespace gh::upstream
