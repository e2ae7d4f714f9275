// Memory for coroutine frames: a per-thread cache of freed frames by size.
//
// Every request runs through a dozen or more coroutines, and each call of a
// coroutine allocates its frame. Asio's own recycling keeps only frames of
// at most 1,020 bytes (its block header counts 4-byte chunks in one byte);
// the larger ones (the session's, the forward path's, the response relay's)
// went to malloc and free every time: about 8.5 per keep-alive request and
// 15 per new connection, 12 % and 21 % of their instructions (callgrind,
// issue 18). Frame sizes are fixed per coroutine function, so a free list
// per 64-byte size class almost always has the exact block ready.
//
// net/asio_frames.h routes Asio's awaitable frames here; it is included in
// every translation unit (CMakeLists.txt), so no frame is ever allocated by
// one allocator and freed by the other.
#pragma once

#include <cstddef>

namespace gh::core {

// Frames up to this many bytes are cached; larger ones use malloc directly.
inline constexpr size_t kFrameCacheMaxBytes = 16 * 1024;
// Size classes are multiples of this many bytes.
inline constexpr size_t kFrameCacheGrain = 64;
// At most this many bytes of one size class, and of all classes together,
// stay cached per thread; the rest goes back to malloc at once.
inline constexpr size_t kFrameCacheClassBytes = 128 * 1024;
inline constexpr size_t kFrameCacheThreadBytes = 1024 * 1024;

// Returns `size` bytes aligned for any standard type (16 bytes), from this
// thread's cache when a frame of the same size class is there. Throws
// std::bad_alloc when malloc fails (as Asio's own frame allocator does).
void* frame_allocate(size_t size);

// Takes back a block from frame_allocate; `size` must be the size it was
// asked for (a coroutine frame's sized operator delete passes it). Any
// thread may free a block another allocated: it joins this thread's cache.
// After the thread's cache has been torn down (thread exit), frees at once.
void frame_deallocate(void* p, size_t size) noexcept;

// Frees this thread's cached frames beyond `keep_bytes`, largest classes
// first: after a burst, idle memory should not hold frames only it needed.
void trim_frame_cache(size_t keep_bytes) noexcept;

// Bytes of freed frames this thread's cache holds (for tests and upkeep).
size_t frame_cache_bytes() noexcept;

}  // namespace gh::core
