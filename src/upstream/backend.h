// One backend server address and its shared, lock-free health state. Owned by
// the runtime snapshot and shared by all workers; only atomics change after
// construction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"

namespace gh::upstream {

// A backend's counters and passive health, kept across reloads: a new
// snapshot's backend for the same route and "host:port" shares its
// predecessor's state (proxy::build_runtime), so /status and /metrics
// counters survive SIGHUP, requests still in flight on the old snapshot
// count into it, and a reload does not forgive a backend in back-off.
struct BackendState {
  std::atomic<int64_t> passive_down_until{0};  // steady_clock ms; >now: out after failures
  std::atomic<unsigned> consecutive_failures{0};
  std::atomic<int> in_flight{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> ejections{0};          // passive ejections (usable -> backed off)
};

struct Backend {
  Backend() : Backend(std::make_shared<BackendState>()) {}
  // Shares `s` (a previous snapshot's backend state); must not be null.
  explicit Backend(std::shared_ptr<BackendState> s) : state(std::move(s)) {}

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
  // This name's slot in per-worker statistics tables (proxy/metrics.h); the
  // same for the same name across reloads. 0: none assigned.
  uint32_t stats_slot = 0;

  // Health, written by the health checker and by passive failure counting.
  // active_up is the checker's (it carries its verdicts over reloads itself).
  std::atomic<bool> active_up{true};        // active checks say up (true when no checks)

  // The shared state, then names for its parts (declared after it, so
  // they are bound to it).
  const std::shared_ptr<BackendState> state;
  std::atomic<int64_t>& passive_down_until = state->passive_down_until;
  std::atomic<unsigned>& consecutive_failures = state->consecutive_failures;

  // Load and counters, for least_conn and the status view.
  std::atomic<int>& in_flight = state->in_flight;
  std::atomic<uint64_t>& requests = state->requests;
  std::atomic<uint64_t>& failures = state->failures;
  std::atomic<uint64_t>& ejections = state->ejections;

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

using core::steady_ms;

}  // namespace gh::upstream
