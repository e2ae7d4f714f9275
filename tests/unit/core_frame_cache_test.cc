#include "core/frame_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

using namespace gh::core;

namespace {

// Each test starts from an empty cache on its thread.
struct FrameCache : ::testing::Test {
  void SetUp() override { trim_frame_cache(0); }
  void TearDown() override { trim_frame_cache(0); }
};

}  // namespace

// A freed frame is handed out again for any size of its 64-byte class,
// and the cache counts the class's bytes, not the size asked for.
TEST_F(FrameCache, ReusesABlockOfTheSameSizeClass) {
  void* a = frame_allocate(1500);
  std::memset(a, 0xab, 1500);
  frame_deallocate(a, 1500);
  EXPECT_EQ(frame_cache_bytes(), 1536u);
  void* b = frame_allocate(1480);   // same class (1,473..1,536 bytes)
  EXPECT_EQ(a, b);
  EXPECT_EQ(frame_cache_bytes(), 0u);
  std::memset(b, 0xcd, 1536);       // the whole class's bytes are usable
  frame_deallocate(b, 1480);
}

TEST_F(FrameCache, DoesNotHandOutASmallerClass) {
  void* a = frame_allocate(1024);
  frame_deallocate(a, 1024);
  void* b = frame_allocate(1100);   // next class up: a fresh block
  EXPECT_NE(a, b);
  std::memset(b, 0, 1100);
  frame_deallocate(b, 1100);
  EXPECT_EQ(frame_cache_bytes(), 1024u + 1152u);
}

TEST_F(FrameCache, BlocksAreAlignedForAnyType) {
  std::vector<std::pair<void*, size_t>> live;
  for (size_t n : {1u, 17u, 64u, 65u, 1021u, 4000u, 16384u, 16385u, 100000u}) {
    void* p = frame_allocate(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u) << n;
    std::memset(p, 1, n);
    live.emplace_back(p, n);
  }
  for (auto& [p, n] : live) frame_deallocate(p, n);
}

// Frames over 16 KiB are never cached; a class keeps at most 128 KiB.
TEST_F(FrameCache, BoundsWhatItKeeps) {
  frame_deallocate(frame_allocate(kFrameCacheMaxBytes + 1), kFrameCacheMaxBytes + 1);
  EXPECT_EQ(frame_cache_bytes(), 0u);
  std::vector<void*> live;
  for (int i = 0; i < 100; ++i) live.push_back(frame_allocate(4096));
  for (void* p : live) frame_deallocate(p, 4096);
  EXPECT_EQ(frame_cache_bytes(), kFrameCacheClassBytes);   // 32 of the 100
}

TEST_F(FrameCache, ThreadTotalIsBounded) {
  std::vector<std::pair<void*, size_t>> live;
  for (size_t n = 1024; n <= kFrameCacheMaxBytes; n += 64)
    for (int i = 0; i < 8; ++i) live.emplace_back(frame_allocate(n), n);
  for (auto& [p, n] : live) frame_deallocate(p, n);
  EXPECT_LE(frame_cache_bytes(), kFrameCacheThreadBytes);
  EXPECT_GT(frame_cache_bytes(), kFrameCacheThreadBytes - kFrameCacheMaxBytes);
}

// Trimming frees the largest classes first and stops at what is kept.
TEST_F(FrameCache, TrimKeepsTheSmallClasses) {
  void* small = frame_allocate(128);
  void* big = frame_allocate(8192);
  frame_deallocate(small, 128);
  frame_deallocate(big, 8192);
  trim_frame_cache(1000);
  EXPECT_EQ(frame_cache_bytes(), 128u);
  EXPECT_EQ(frame_allocate(128), small);
  frame_deallocate(small, 128);
}

// A block freed on another thread joins that thread's cache; a thread's
// cache is freed when it ends (LSan in the sanitizer build would report it).
TEST_F(FrameCache, CrossThreadFreeAndThreadExit) {
  void* p = frame_allocate(2000);
  size_t there = 0;
  std::thread t([&] {
    frame_deallocate(p, 2000);
    there = frame_cache_bytes();
    void* q = frame_allocate(2000);
    EXPECT_EQ(q, p);
    frame_deallocate(q, 2000);
  });
  t.join();
  EXPECT_EQ(there, 2048u);
  EXPECT_EQ(frame_cache_bytes(), 0u);
}
