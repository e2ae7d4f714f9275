// One backend server address and its shared, lock-free health state. Owned by
// the runtime snapshot and shared by all workers; only atomics change after
// construction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace gh::upstream {

struct Backend {
  // Unique for the life of the process, never reused (an address is: a
  // reload frees the old backends, and a new one may land where an old one
  // was). Per-worker tables of idle connections are keyed by it, so a
  // connection to a backend of an older config is never taken for a new one.
  const uint64_t id = next_id();

  std::string host;          // name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  unsigned weight = 1;
  bool backup = false;
  std::string name;          // "host:port" ("[v6]:port"), used in logs and Proxy-Status

  // Health, written by the health checker and by passive failure counting.
  std::atomic<bool> active_up{true};        // active checks say up (true when no checks)
  std::atomic<int64_t> passive_down_until{0};  // steady_clock ms; >now: out after failures
  std::atomic<unsigned> consecutive_failures{0};

  // Load and counters, for least_conn and the status view.
  std::atomic<int> in_flight{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};

  static uint64_t next_id() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  // Usable for new requests at `now_ms` (steady_clock milliseconds).
  bool usable(int64_t now_ms) const {
    return active_up.load(std::memory_order_relaxed) &&
           passive_down_until.load(std::memory_order_relaxed) <= now_ms;
  }
};

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace gh::upstream
