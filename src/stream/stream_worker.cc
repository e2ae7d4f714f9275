#include "stream/relay.h"
#include "stream/stream_proxy.h"

namespace gh::stream {

upstream::Balancer& StreamWorker::balancer(const StreamRuntime& s) {
  auto& b = balancers_[s.id];
  if (!b) b = upstream::make_balancer(s.conf->balance, s.backends);
  return *b;
}

void StreamWorker::forget_others(const StreamTable& current) {
  for (auto it = balancers_.begin(); it != balancers_.end();) {
    bool keep = false;
    for (const auto& e : current.entries) keep = keep || e.id == it->first;
    it = keep ? std::next(it) : balancers_.erase(it);
  }
}

char* StreamWorker::copy_buffer() {
  if (!copy_buf_) copy_buf_.reset(new char[kCopyBytes]);
  return copy_buf_.get();
}

void StreamWorker::abort_all() {
  for (Relay* r = relays_; r; r = r->next) r->abort();
}

}  // namespace gh::stream
