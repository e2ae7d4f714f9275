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
  ~Buffer() { std::free(data_); }

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

  // Makes at least `n` bytes writable at the tail: compacts first, grows only
  // if compaction is not enough. Invalidates views into the buffer.
  void reserve_tail(size_t n) {
    if (cap_ - end_ >= n) return;
    if (begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (cap_ - end_ >= n) return;
    }
    size_t want = cap_ ? cap_ : 4096;
    while (want - end_ < n) want *= 2;
    char* p = static_cast<char*>(std::realloc(data_, want));
    if (!p) std::abort();  // out of memory: nothing sensible left to do
    data_ = p;
    cap_ = want;
  }
  char* tail() { return data_ + end_; }
  size_t tail_room() const { return cap_ - end_; }
  void commit(size_t n) { end_ += n; }

  // Frees the memory when no bytes are held: idle connections cost little.
  void release_if_empty() {
    if (begin_ == end_ && data_) {
      std::free(data_);
      data_ = nullptr;
      cap_ = begin_ = end_ = 0;
    }
  }

 private:
  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace gh::core
