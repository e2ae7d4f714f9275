// Per-worker deadlines without a timer syscall per operation: a connection
// stores "expire at" as a number, and one coarse tick per worker scans the
// registered entries and fires the ones that are due. Setting or moving a
// deadline is a store; that matters because every request sets several.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace gh::net {

// Milliseconds on the monotonic clock, from its coarse variant: a few
// milliseconds of resolution is plenty for deadlines ticked every 100 ms,
// and it is a plain memory read (several are taken per request). Same
// epoch as steady_clock, at most one kernel tick behind it.
inline int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class DeadlineList;

class Deadline {
 public:
  using Fn = void (*)(void* ctx);
  Deadline(DeadlineList& list, Fn fn, void* ctx);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void expire_in(std::chrono::milliseconds d) { at_ms_ = now_ms() + d.count(); }
  void expire_at(int64_t at_ms) { at_ms_ = at_ms; }
  void clear() { at_ms_ = 0; }
  bool armed() const { return at_ms_ != 0; }
  int64_t at_ms() const { return at_ms_; }   // 0: not armed
  // True once this deadline has fired since the last clear_fired().
  bool fired() const { return fired_; }
  void clear_fired() { fired_ = false; }

 private:
  friend class DeadlineList;
  DeadlineList& list_;
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  int64_t at_ms_ = 0;
  bool fired_ = false;
  Fn fn_;
  void* ctx_;
};

class DeadlineList {
 public:
  // Fires every armed deadline at or before `now`: disarms it, marks it
  // fired, calls its function. The function must not destroy deadlines.
  void fire_due(int64_t now);
  size_t size() const { return size_; }
  template <class F>
  void for_each(F&& f) {
    for (Deadline* d = head_; d; d = d->next_) f(d->ctx_);
  }

 private:
  friend class Deadline;
  Deadline* head_ = nullptr;
  size_t size_ = 0;
};

inline Deadline::Deadline(DeadlineList& list, Fn fn, void* ctx) : list_(list), fn_(fn), ctx_(ctx) {
  next_ = list_.head_;
  if (next_) next_->prev_ = this;
  list_.head_ = this;
  ++list_.size_;
}

inline Deadline::~Deadline() {
  if (prev_) prev_->next_ = next_;
  else list_.head_ = next_;
  if (next_) next_->prev_ = prev_;
  --list_.size_;
}

inline void DeadlineList::fire_due(int64_t now) {
  for (Deadline* d = head_; d; d = d->next_) {
    if (d->at_ms_ != 0 && d->at_ms_ <= now) {
      d->at_ms_ = 0;
      d->fired_ = true;
      d->fn_(d->ctx_);
    }
  }
}

}  // namespace gh::net
