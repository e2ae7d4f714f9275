// A contiguous read buffer: bytes arrive at the tail, are consumed from the
// head. Heads are parsed in place (zero-copy), so the buffer only moves its
// bytes when it must make room, never while a parsed head is in use.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/heap.h"

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
  // Body block size: a body relay reads up to this much at once. One 64 KiB
  // read and write move as much as four 16 KiB ones for a quarter of the
  // syscalls and segments (issue 18: 1 MiB responses took half the CPU).
  // These are recycled through their own smaller cache.
  static constexpr size_t kBodyBlock = 64 * 1024;

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
    if (want == kBodyBlock) {
      char* p = take_body_block();
      if (end_) std::memcpy(p, data_, end_);
      if (data_) free_storage();
      data_ = p;
      cap_ = kBodyBlock;
      return;
    }
    if (want > kBodyBlock) note_large_allocation(want);
    if (cap_ == kBlock || cap_ == kBodyBlock) {   // cached blocks are not realloc'ed in place
      char* p = static_cast<char*>(std::malloc(want));
      if (!p) std::abort();
      if (end_) std::memcpy(p, data_, end_);
      free_storage();
      data_ = p;
      cap_ = want;
      return;
    }
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
    if (end_ + n > kBodyBlock) note_large_allocation(end_ + n);
    if (cap_ == kBlock || cap_ == kBodyBlock) {
      p = static_cast<char*>(std::malloc(end_ + n));
      if (p) {
        std::memcpy(p, data_, end_);
        free_storage();
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
      free_storage();
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
    free_storage();
    data_ = p;
    cap_ = n;
    begin_ = 0;
    end_ = n;
  }

  // Frees all but `keep` of this thread's cached blocks: after a burst has
  // passed, idle memory should not include blocks only the burst needed.
  static void trim_block_cache(size_t keep) {
    blocks().trim(keep);
    body_blocks().trim(keep / 4);
  }

 private:
  // A per-thread stack of free blocks of one size, `Max` at most.
  template <size_t Size, size_t Max>
  struct BlockCache {
    char* items[Max];
    size_t n = 0;
    ~BlockCache() { trim(0); }
    char* take() {
      if (n) return items[--n];
      char* p = static_cast<char*>(std::malloc(Size));
      if (!p) std::abort();
      return p;
    }
    void give(char* p) {
      if (n < Max) items[n++] = p;
      else std::free(p);
    }
    void trim(size_t keep) {
      while (n > keep) std::free(items[--n]);
    }
  };
  static BlockCache<kBlock, 32>& blocks() {   // 512 KiB per thread at most
    thread_local BlockCache<kBlock, 32> c;
    return c;
  }
  static BlockCache<kBodyBlock, 8>& body_blocks() {   // 512 KiB per thread at most
    thread_local BlockCache<kBodyBlock, 8> c;
    return c;
  }
  static char* take_block() { return blocks().take(); }
  static void give_block(char* p) { blocks().give(p); }
  static char* take_body_block() { return body_blocks().take(); }
  // Gives the storage back where it came from (data_ must be set).
  void free_storage() {
    if (cap_ == kBlock) give_block(data_);
    else if (cap_ == kBodyBlock) body_blocks().give(data_);
    else std::free(data_);
  }

  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace gh::core
