// How the process's heap (glibc malloc) holds large blocks, and when it hands
// freed pages back to the kernel.
//
// By default glibc adapts its thresholds as it goes: after the first free of
// a large block, blocks up to that size come from the heap, and freed space
// above twice that size at the heap's top is trimmed at once. A buffered
// request body of 1 MiB (limits.request_buffer) is exactly such a block:
// with a few uploads at a time, every free trimmed the top and the next body
// faulted its pages in again (about 200 minor faults per 1 MiB upload, a
// quarter of its CPU). gatehouse instead keeps freed heap memory while
// traffic flows and trims once the large blocks have stopped coming.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gh::core {

// Sets malloc's thresholds for the whole process: blocks up to 32 MiB come
// from the heap (not a fresh mmap each), and up to 64 MiB of free space may
// stay at a heap's top. Call once, before the first worker thread starts.
void tune_heap();

// Counts bytes of large blocks (more than a 64 KiB body block) just
// allocated; any thread, lock-free.
void note_large_allocation(size_t bytes);

// Called from a worker's 100 ms tick: when large blocks were allocated
// since the last trim and none for the last second, hands free heap pages
// back to the kernel (malloc_trim), once, process-wide. True if it trimmed.
bool trim_heap_after_large_blocks(int64_t now_ms);

}  // namespace gh::core
