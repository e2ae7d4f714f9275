// Token buckets kept in Redis for `rate_limit` with `store: redis`, so every
// gatehouse naming the same server meets one limit. Each decision is one
// EVALSHA of a small Lua script (atomic in Redis; the script is sent whole
// with EVAL once when Redis answers NOSCRIPT) on the worker's connection
// (redis_connection.h), batched with the other decisions of the same loop
// turn: one round trip per request at most.
//
// The script is GCRA, a token bucket stored as one number (the time the
// bucket will be full again, in microseconds), read from Redis's own clock
// (TIME) so gatehouse instances whose clocks differ still agree; its key
// expires (PX) when the bucket is full again, so Redis holds only keys in use.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"
#include "net/asio.h"

namespace gh::policy {

// One decision's outcome. `ok` false: the store did not answer in time (or
// is down); `error` says why and the caller fails open or closed.
struct StoreTake {
  bool ok = false;
  bool allowed = false;
  uint64_t remaining = 0;      // whole requests left in the bucket after this one
  double retry_after_s = 0;    // refused: seconds until one is allowed again
  std::string error;
};

class RedisBuckets {
 public:
  // `c.store` is redis, `c.redis` the server; `c.scope` names the route.
  explicit RedisBuckets(const config::RateLimit& c);

  // Takes one request from `key`'s bucket; waits at most c.redis.timeout.
  // Counts the decision, and a failure (store_errors), in the process-wide
  // counters, and logs a warning at most every 5 s per process.
  net::awaitable<StoreTake> take(std::string key) const;

  // The Redis key for a key value: a prefix, the limit's identity (route,
  // rate, burst) and the value (a SHA-256 of it when longer than 128 bytes).
  std::string redis_key(std::string_view value) const;

 private:
  config::RateLimit::Redis server_;
  config::Duration timeout_;
  bool fail_open_;
  std::string address_;      // host:port, for the log
  std::string prefix_;
  std::string interval_us_;   // microseconds between two requests (the rate)
  std::string tau_us_;        // interval * burst: how far ahead a bucket may run
};

// Process-wide counters of `store: redis` decisions, for the admin status.
struct RateLimitStoreStats {
  uint64_t decisions = 0;      // decisions asked of the store
  uint64_t errors = 0;         // of which failed (no answer in time, down, bad reply)
};
RateLimitStoreStats rate_limit_store_stats();

}  // namespace gh::policy
