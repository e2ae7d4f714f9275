// core::Buffer growth: reserve_tail doubles, reserve_tail_exact allocates
// just what a body of known size needs; bytes survive both.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/buffer.h"

using gh::core::Buffer;

TEST(Buffer, ReserveTailExactGrowsToTheSizeAsked) {
  Buffer b;
  b.reserve_tail(100);
  std::memcpy(b.tail(), "head", 4);
  b.commit(4);
  b.reserve_tail_exact(1024 * 1024);
  EXPECT_EQ(b.capacity(), 4u + 1024 * 1024);
  EXPECT_EQ(b.view(), "head");
  b.reserve_tail_exact(10);   // room enough: nothing changes
  EXPECT_EQ(b.capacity(), 4u + 1024 * 1024);
}

TEST(Buffer, ReserveTailExactCompactsFirst) {
  Buffer b;
  b.reserve_tail(Buffer::kBlock);
  std::string s(Buffer::kBlock, 'x');
  std::memcpy(b.tail(), s.data(), s.size());
  b.commit(s.size());
  b.consume(Buffer::kBlock - 10);   // 10 bytes left at the end
  b.reserve_tail_exact(100);        // fits once moved to the front
  EXPECT_EQ(b.capacity(), Buffer::kBlock);
  EXPECT_EQ(b.view(), std::string(10, 'x'));
}

TEST(Buffer, ReserveTailExactSmallUsesABlock) {
  Buffer b;
  b.reserve_tail_exact(100);
  EXPECT_EQ(b.capacity(), Buffer::kBlock);
  b.clear();
  b.release_if_empty();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(Buffer, ReserveTailExactFromEmptyLarge) {
  Buffer b;
  b.reserve_tail_exact(3 * Buffer::kBlock);
  EXPECT_EQ(b.capacity(), 3 * Buffer::kBlock);
  std::memset(b.tail(), 'y', 3 * Buffer::kBlock);
  b.commit(3 * Buffer::kBlock);
  EXPECT_EQ(b.size(), 3 * Buffer::kBlock);
}

// A body relay's 64 KiB read buffer comes from (and goes back to) its own
// per-thread cache, and keeps the bytes it held before it grew.
TEST(Buffer, GrowingToABodyBlockKeepsBytesAndRecyclesTheBlock) {
  const char* first = nullptr;
  {
    Buffer b;
    b.reserve_tail(100);
    EXPECT_EQ(b.capacity(), Buffer::kBlock);
    std::memcpy(b.tail(), "head", 4);
    b.commit(4);
    b.reserve_tail(Buffer::kBodyBlock - 4);
    EXPECT_EQ(b.capacity(), Buffer::kBodyBlock);
    EXPECT_EQ(b.view(), "head");
    first = b.data();
    b.clear();
    b.release_if_empty();
    EXPECT_EQ(b.capacity(), 0u);
  }
  Buffer c;
  c.reserve_tail(Buffer::kBodyBlock);
  EXPECT_EQ(c.capacity(), Buffer::kBodyBlock);
  EXPECT_EQ(c.data(), first);   // the cached block, not a new allocation
  // Growing past a body block copies out of it (cached blocks are never realloc'ed).
  std::memset(c.tail(), 'z', Buffer::kBodyBlock);
  c.commit(Buffer::kBodyBlock);
  c.reserve_tail(1);
  EXPECT_EQ(c.capacity(), 2 * Buffer::kBodyBlock);
  EXPECT_EQ(c.view(), std::string(Buffer::kBodyBlock, 'z'));
}
