#include "proxy/worker_state.h"

#include <random>

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
