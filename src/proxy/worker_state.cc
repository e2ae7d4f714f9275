#include "proxy/worker_state.h"

#include <malloc.h>

#include <atomic>
#include <random>

#include "net/deadlines.h"

namespace gh::proxy {

WorkerState::WorkerState(net::Worker& w, Shared& shared)
    : worker(w), resolver(w.ctx), log(shared.access_log), shared_(shared) {
  std::random_device rd;
  rng_state_ = (uint64_t(rd()) << 32) ^ rd() ^ (uint64_t(w.index) << 56);
  refresh();
}

void WorkerState::refresh() {
  generation_ = shared_.runtime.generation();
  rt_ = shared_.runtime.load();
  balancers_.clear();
  if (!rt_) return;
  for (const auto& r : rt_->routes)
    balancers_.push_back(upstream::make_balancer(r.conf->balance, r.backends));
}

// splitmix64: fast, good enough for ids that only need to be unique.
uint64_t WorkerState::rng() {
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace gh::proxy

namespace gh::proxy {

void WorkerState::tick() {
  log.flush();
  // A burst of clients leaves freed session memory in the heap; once most of
  // those sessions are gone (parked or closed), hand the pages back so idle
  // connections are not charged for yesterday's peak. Rare and process-wide.
  static std::atomic<int64_t> last_trim{0};
  if (peak_sessions >= 64 && active_sessions * 4 < peak_sessions) {
    int64_t now = net::now_ms();
    int64_t last = last_trim.load(std::memory_order_relaxed);
    if (now - last >= 1000 && last_trim.compare_exchange_strong(last, now)) {
      malloc_trim(0);
      peak_sessions = active_sessions;
    }
  }
}

}  // namespace gh::proxy
