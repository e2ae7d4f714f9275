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

 private:
  net::awaitable<void> serve(net::Worker& w, net::Socket s, net::tcp::endpoint peer,
                             const net::ListenerSpec& spec, net::ConnectionSlot slot);
  std::vector<std::unique_ptr<WorkerState>> states_;
};

}  // namespace gh::proxy
