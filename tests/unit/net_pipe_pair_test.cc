// The per-thread pipe cache: pipes are made non-blocking, empty ones are
// kept (at most kMaxSpare), non-empty ones are closed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "net/pipe_pair.h"

namespace gh::net {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(PipeCache, MakesNonBlockingPipesAndReusesEmptyOnes) {
  PipeCache c;
  PipePair p = c.take();
  ASSERT_GE(p.r, 0);
  ASSERT_GE(p.w, 0);
  EXPECT_TRUE(::fcntl(p.r, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(p.w, F_GETFL) & O_NONBLOCK);
  char b;
  EXPECT_EQ(::read(p.r, &b, 1), -1);   // empty, and does not block
  c.give(p, true);
  EXPECT_EQ(c.spare(), 1u);
  PipePair q = c.take();
  EXPECT_EQ(q.r, p.r);
  EXPECT_EQ(q.w, p.w);
  EXPECT_EQ(c.spare(), 0u);
  c.give(q, true);
}

TEST(PipeCache, ClosesPipesWithBytesLeftAndPastTheLimit) {
  PipeCache c;
  PipePair p = c.take();
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  c.give(p, false);
  EXPECT_EQ(c.spare(), 0u);
  EXPECT_FALSE(is_open(p.r));
  std::vector<PipePair> many;
  for (size_t i = 0; i < PipeCache::kMaxSpare + 2; ++i) many.push_back(c.take());
  for (PipePair x : many) c.give(x, true);
  EXPECT_EQ(c.spare(), PipeCache::kMaxSpare);
  EXPECT_FALSE(is_open(many.back().r));
  c.give(PipePair{}, true);   // none: ignored
  EXPECT_EQ(c.spare(), PipeCache::kMaxSpare);
}

}  // namespace
}  // namespace gh::net
