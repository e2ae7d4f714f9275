#include "core/frame_cache.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A cached frame is poisoned: a use after its coroutine ended is reported
// as it would be for freed memory.
#define GH_FRAME_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define GH_FRAME_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define GH_FRAME_POISON(p, n) ((void)(p), (void)(n))
#define GH_FRAME_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace gh::core {
namespace {

constexpr size_t kClasses = kFrameCacheMaxBytes / kFrameCacheGrain;   // 256

struct FreeFrame {
  FreeFrame* next;
};

// Trivially constructed and destroyed, so reaching it costs no TLS wrapper
// call; the Guard below frees its blocks when the thread ends.
struct Cache {
  FreeFrame* head[kClasses + 1];
  uint32_t count[kClasses + 1];
  size_t bytes;
  uint8_t state;   // 0: nothing cached yet, 1: Guard registered, 2: torn down
};
constinit thread_local Cache t_cache{};

size_t class_of(size_t size) { return (size + kFrameCacheGrain - 1) / kFrameCacheGrain; }

FreeFrame* pop(Cache& c, size_t cls) {
  FreeFrame* f = c.head[cls];
  GH_FRAME_UNPOISON(f, cls * kFrameCacheGrain);
  c.head[cls] = f->next;
  --c.count[cls];
  c.bytes -= cls * kFrameCacheGrain;
  return f;
}

void trim_to(Cache& c, size_t keep_bytes) {
  for (size_t cls = kClasses; cls > 0 && c.bytes > keep_bytes; --cls)
    while (c.head[cls] && c.bytes > keep_bytes) std::free(pop(c, cls));
}

struct Guard {
  ~Guard() {
    trim_to(t_cache, 0);
    t_cache.state = 2;
  }
};

void register_guard() {
  thread_local Guard guard;
  (void)&guard;
  t_cache.state = 1;
}

}  // namespace

void* frame_allocate(size_t size) {
  if (size <= kFrameCacheMaxBytes) {
    const size_t cls = class_of(size);
    Cache& c = t_cache;
    if (c.head[cls]) return pop(c, cls);
    if (void* p = std::malloc(cls * kFrameCacheGrain)) return p;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(size)) return p;
  throw std::bad_alloc();
}

void frame_deallocate(void* p, size_t size) noexcept {
  if (size <= kFrameCacheMaxBytes) {
    Cache& c = t_cache;
    const size_t cls = class_of(size);
    const size_t block = cls * kFrameCacheGrain;
    if (c.state != 2 && (c.count[cls] + 1) * block <= kFrameCacheClassBytes &&
        c.bytes + block <= kFrameCacheThreadBytes) {
      if (c.state == 0) register_guard();
      auto* f = static_cast<FreeFrame*>(p);
      f->next = c.head[cls];
      c.head[cls] = f;
      ++c.count[cls];
      c.bytes += block;
      GH_FRAME_POISON(p, block);
      return;
    }
  }
  std::free(p);
}

void trim_frame_cache(size_t keep_bytes) noexcept { trim_to(t_cache, keep_bytes); }

size_t frame_cache_bytes() noexcept { return t_cache.bytes; }

}  // namespace gh::core
