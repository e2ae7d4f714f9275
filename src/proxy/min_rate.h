// The slowest pace a client may send a request body at
// (limits.request_body_min_rate), one rule for HTTP/1 and HTTP/2 bodies.
// Only time spent waiting for the client counts (never time the backend
// makes us wait). Each byte received earns 1000/rate ms of further waiting,
// banked up to kMinRateGraceMs, so a burst followed by a stall does not pay
// and a client that keeps the pace is never cut.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace gh::proxy {

inline constexpr int64_t kMinRateGraceMs = 5000;

class MinRate {
 public:
  // `bytes_per_s` 0: no minimum. `from_first_byte`: the rate applies only
  // once the first body byte arrived (a client that sent Expect:
  // 100-continue waits for our answer first).
  void set(uint64_t bytes_per_s, bool from_first_byte) {
    rate_ = bytes_per_s;
    on_ = bytes_per_s != 0 && !from_first_byte;
    credit_ms_ = kMinRateGraceMs;
  }
  bool active() const { return rate_ != 0; }

  // The longest the next wait for the client may last, at most `timeout`;
  // `by_rate` says the rate (not the timeout) bounds it, so that a wait
  // ending there is "too slow", not "timed out".
  std::chrono::milliseconds bound(std::chrono::milliseconds timeout, bool& by_rate) const {
    by_rate = on_ && credit_ms_ < timeout.count();
    return by_rate ? std::chrono::milliseconds(std::max<int64_t>(credit_ms_, 0)) : timeout;
  }

  // `n` bytes arrived after waiting `waited_ms` for them.
  void arrived(uint64_t n, int64_t waited_ms) {
    if (!rate_) return;
    if (on_) credit_ms_ -= waited_ms;
    on_ = true;
    credit_ms_ = std::min<int64_t>(kMinRateGraceMs, credit_ms_ + static_cast<int64_t>(n * 1000 / rate_));
  }

 private:
  uint64_t rate_ = 0;
  bool on_ = false;
  int64_t credit_ms_ = kMinRateGraceMs;
};

}  // namespace gh::proxy
