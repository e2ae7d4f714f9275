// The proxy's entry point for accepted connections: one WorkerState per
// worker, one Session per connection.
#pragma once

#include <memory>
#include <vector>

#include "net/server.h"
#include "proxy/worker_state.h"

namespace gh::proxy {

class Proxy {
 public:
  // Sets up per-worker state and the drain/tick hooks on every worker.
  Proxy(net::Server& server, Shared& shared);
  net::Server::Handler handler();
  // The workers' states, for the metrics scraper: only their statistics
  // (WorkerState::metrics, pool.idle_count()) may be read from another thread.
  std::vector<const WorkerState*> worker_states() const;
  // Worker `index`'s statistics; written only on that worker's thread
  // (e.g. the admin listener counting its connections there).
  WorkerMetrics& worker_metrics(unsigned index) { return states_[index]->metrics; }

 private:
  net::awaitable<void> serve(net::Worker& w, net::Socket s, net::tcp::endpoint peer,
                             std::shared_ptr<const net::ListenerSpec> spec_ptr,
                             net::ConnectionSlot slot);
  net::awaitable<void> serve_any(net::Worker& w, net::Socket s, net::tcp::endpoint peer,
                                 std::shared_ptr<const net::ListenerSpec> spec_ptr,
                                 net::ConnectionSlot slot);
  std::vector<std::unique_ptr<WorkerState>> states_;
};

}  // namespace gh::proxy
