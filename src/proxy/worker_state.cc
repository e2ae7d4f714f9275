#include "proxy/worker_state.h"

#include <malloc.h>

#include <atomic>
#include <random>

#include "core/buffer.h"
#include "core/frame_cache.h"
#include "core/heap.h"
#include "net/deadlines.h"
#include "policy/worker_upkeep.h"
#include "proxy/h2_upstream.h"

namespace gh::proxy {

WorkerState::WorkerState(net::Worker& w, Shared& shared)
    : worker(w), resolver(w.ctx), streams(w, resolver), log(shared.access_log), shared_(shared) {
  std::random_device rd;
  rng_state_ = (uint64_t(rd()) << 32) ^ rd() ^ (uint64_t(w.index) << 56);
  refresh();
  // A finished stream connection: its log line and counters.
  streams.on_finish = [this](const stream::StreamRecord& r) {
    size_t i = 0;
    while (i + 1 < kStreamEnds.size() && kStreamEnds[i] != r.end) ++i;
    metrics.stream_connections[i].add();
    metrics.stream_bytes_received.add(r.bytes_up);
    metrics.stream_bytes_sent.add(r.bytes_down);
    std::string client = r.client.address().is_v6() && r.client.address().to_v6().is_v4_mapped()
                             ? net::asio::ip::make_address_v4(net::asio::ip::v4_mapped, r.client.address().to_v6()).to_string()
                             : r.client.address().to_string();
    StreamLogRecord lr;
    lr.start_unix_ms = r.start_unix_ms;
    lr.client = client;
    lr.stream = r.stream ? std::string_view(r.stream->name) : std::string_view();
    lr.backend = r.backend ? std::string_view(r.backend->name) : std::string_view();
    lr.end = r.end;
    lr.bytes_sent = r.bytes_down;
    lr.bytes_received = r.bytes_up;
    lr.duration_ms = double(r.duration_ms);
    log.add_stream(lr);
  };
}

void WorkerState::refresh() {
  generation_ = shared_.runtime.generation();
  rt_ = shared_.runtime.load();
  for (auto& [b, c] : h2_upstreams) c->close();
  h2_upstreams.clear();
  balancers_.clear();
  if (!rt_) return;
  metrics.ensure(rt_->route_slots, rt_->backend_slots);
  for (const auto& r : rt_->routes)
    balancers_.push_back(upstream::make_balancer(r.conf->balance, r.backends));
  streams.forget_others(rt_->streams);
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
  pool.expire(net::now_ms());
  policy::worker_upkeep(net::now_ms());
  // A burst of clients leaves freed session memory in the heap; once most of
  // those sessions are gone (parked or closed), hand the pages back so idle
  // connections are not charged for yesterday's peak. Rare and process-wide.
  // At most every 200 ms: a trim walks the free lists (about 1 ms for a
  // 16 MiB arena), and the parked connections of a burst move to the idle
  // set a tick or two after the sessions end, freeing more.
  // Large blocks (buffered request bodies) stay in the heap while they keep
  // coming (core/heap.h) and go back once they have stopped for a second.
  if (core::trim_heap_after_large_blocks(net::now_ms())) peak_heavy = active_sessions + parked_in_asio;
  static std::atomic<int64_t> last_trim{0};
  size_t heavy = active_sessions + parked_in_asio;
  if (peak_heavy >= 64 && heavy * 4 < peak_heavy) {
    int64_t now = net::now_ms();
    int64_t last = last_trim.load(std::memory_order_relaxed);
    core::Buffer::trim_block_cache(4);   // this worker thread's own cache
    core::trim_frame_cache(64 * 1024);   // and its cached coroutine frames
    if (now - last >= 200 && last_trim.compare_exchange_strong(last, now)) {
      malloc_trim(0);
      peak_heavy = heavy;
    }
  }
}

}  // namespace gh::proxy
