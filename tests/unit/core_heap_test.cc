#include "core/heap.h"

#include <gtest/gtest.h>

using namespace gh::core;

// The heap is trimmed once large blocks have stopped coming for a second,
// not while they keep coming, and not for a little churn.
TEST(Heap, TrimsOnceLargeBlocksStopForASecond) {
  tune_heap();
  note_large_allocation(1024 * 1024);
  EXPECT_FALSE(trim_heap_after_large_blocks(1'000));   // below 4 MiB: never
  note_large_allocation(4 * 1024 * 1024);
  EXPECT_FALSE(trim_heap_after_large_blocks(2'000));   // just changed
  EXPECT_FALSE(trim_heap_after_large_blocks(2'500));
  note_large_allocation(1024 * 1024);                  // still coming
  EXPECT_FALSE(trim_heap_after_large_blocks(2'900));
  EXPECT_FALSE(trim_heap_after_large_blocks(3'800));   // 0.9 s since the last change
  EXPECT_TRUE(trim_heap_after_large_blocks(3'950));
  EXPECT_FALSE(trim_heap_after_large_blocks(5'000));   // nothing new since
  EXPECT_FALSE(trim_heap_after_large_blocks(9'000));
}
