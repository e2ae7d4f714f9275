// A contiguous read buffer: bytes arrive at the tail, are consumed from the
// head. Heads are parsed in place (zero-copy), so the buffer only moves its
// bytes when it must make room, never while a parsed head is in use.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace gh::core {

class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    begin_ = end_ = 0;
    release_if_empty();
  }

  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  const char* data() const { return data_ + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return cap_; }

  void consume(size_t n) {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

  // Standard block size: buffers of this size are recycled through a small
  // per-thread cache, so connections can drop them when idle at little cost.
  static constexpr size_t kBlock = 16 * 1024;

  // Makes at least `n` bytes writable at the tail: compacts first, grows only
  // if compaction is not enough. Invalidates views into the buffer.
  void reserve_tail(size_t n) {
    if (cap_ - end_ >= n) return;
    if (cap_ == 0 && n <= kBlock) {
      data_ = take_block();
      cap_ = kBlock;
      return;
    }
    if (begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (cap_ - end_ >= n) return;
    }
    size_t want = cap_ ? cap_ : 4096;
    while (want - end_ < n) want *= 2;
    if (want < kBlock) want = kBlock;
    char* p = static_cast<char*>(std::realloc(data_, want));
    if (!p) std::abort();  // out of memory: nothing sensible left to do
    data_ = p;
    cap_ = want;
  }
  // Like reserve_tail, but a growth allocates exactly what is needed rather
  // than doubling: for a body of known size (request buffering), whose
  // bytes would otherwise sit in an allocation up to twice their size.
  void reserve_tail_exact(size_t n) {
    if (cap_ - end_ >= n) return;
    if (begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (cap_ - end_ >= n) return;
    }
    if (end_ + n <= kBlock) {
      reserve_tail(n);
      return;
    }
    char* p;
    if (cap_ == kBlock) {
      p = static_cast<char*>(std::malloc(end_ + n));
      if (p) {
        std::memcpy(p, data_, end_);
        give_block(data_);
      }
    } else {
      p = static_cast<char*>(std::realloc(data_, end_ + n));
    }
    if (!p) std::abort();  // out of memory: nothing sensible left to do
    data_ = p;
    cap_ = end_ + n;
  }
  char* tail() { return data_ + end_; }
  size_t tail_room() const { return cap_ - end_; }
  void commit(size_t n) { end_ += n; }

  // Frees the memory when no bytes are held: idle connections cost little.
  void release_if_empty() {
    if (begin_ == end_ && data_) {
      if (cap_ == kBlock) give_block(data_);
      else std::free(data_);
      data_ = nullptr;
      cap_ = begin_ = end_ = 0;
    }
  }

  // Moves the held bytes into an allocation of just their size and gives
  // the block back: a slow peer's few bytes need not pin 16 KiB while it
  // waits. The next reserve_tail() grows it again. Invalidates views.
  void shrink_to_fit() {
    size_t n = end_ - begin_;
    if (n == 0) {
      release_if_empty();
      return;
    }
    if (cap_ < n + 1024) return;   // not worth a copy
    char* p = static_cast<char*>(std::malloc(n));
    if (!p) return;   // keep the bigger buffer
    std::memcpy(p, data_ + begin_, n);
    if (cap_ == kBlock) give_block(data_);
    else std::free(data_);
    data_ = p;
    cap_ = n;
    begin_ = 0;
    end_ = n;
  }

  // Frees all but `keep` of this thread's cached blocks: after a burst has
  // passed, idle memory should not include blocks only the burst needed.
  static void trim_block_cache(size_t keep) {
    BlockCache& c = cache();
    while (c.n > keep) std::free(c.blocks[--c.n]);
  }

 private:
  struct BlockCache {
    static constexpr size_t kMax = 32;  // 512 KiB per thread at most
    char* blocks[kMax];
    size_t n = 0;
    ~BlockCache() {
      while (n) std::free(blocks[--n]);
    }
  };
  static BlockCache& cache() {
    thread_local BlockCache c;
    return c;
  }
  static char* take_block() {
    BlockCache& c = cache();
    if (c.n) return c.blocks[--c.n];
    char* p = static_cast<char*>(std::malloc(kBlock));
    if (!p) std::abort();
    return p;
  }
  static void give_block(char* p) {
    BlockCache& c = cache();
    if (c.n < BlockCache::kMax) c.blocks[c.n++] = p;
    else std::free(p);
  }

  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace gh::core
