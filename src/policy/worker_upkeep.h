// Per-worker upkeep of the policies' thread-local state, run by each
// worker's periodic tick (proxy/worker_state.cc) on that worker's thread:
// what a policy keeps per worker must go when the policy's config snapshot
// is gone, even on a worker that never runs that policy again.
#pragma once

#include <cstdint>

namespace gh::policy {

// Cheap when there is nothing to do (a few loads); does real work at most
// once a second. `now_ms`: the steady clock in milliseconds (net::now_ms()).
// Today: forward_auth's connection pools to auth services (idle ones
// closed after their idle timeout, those of replaced configs dropped).
void worker_upkeep(int64_t now_ms);

}  // namespace gh::policy
