// The `cache` policy (CONTRACT "Policies", docs/caching.md): one route's
// RFC 9111 shared cache. It holds the route's store (cache/store.h), the
// options of the section 3/4 rules (cache/freshness.h), and the table of
// upstream fetches in progress that concurrent misses for the same key wait
// on instead of fetching too (request collapsing). What a request does with
// all this, and the bytes, are the forward path's (proxy/forward_cache.cc).
//
// Shared by every worker thread of a runtime snapshot: the store and the
// fill table lock internally (briefly: find, insert, unlink).
#pragma once

#include "core/string_map.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/freshness.h"
#include "cache/store.h"
#include "config/config.h"
#include "net/asio.h"

namespace gh::policy {

class CacheRule {
 public:
  // How long (ms) requests for a key do not wait for each other after a
  // fetch of it gave a response that could not be stored: like Varnish's
  // hit-for-miss, so an uncacheable URL is not fetched one client at a time.
  static constexpr int64_t kPassMs = 10'000;
  // How long a request waits for another's fetch of the same key at most
  // (then it fetches itself), like nginx's proxy_cache_lock_timeout.
  static constexpr std::chrono::milliseconds kFillWait{5000};

  explicit CacheRule(const config::Cache& conf);
  CacheRule(const CacheRule&) = delete;
  CacheRule& operator=(const CacheRule&) = delete;

  cache::Store& store() const { return *store_; }
  const cache::Options& options() const { return options_; }
  // Bytes of body beyond which a response streams through unstored.
  uint64_t max_object() const { return max_object_; }
  uint64_t max_size() const { return max_size_; }

  // One upstream fetch of a key that other requests may wait on.
  class Fill {
   public:
    // Registers `t` (a timer of the waiter's own executor `ex`, which the
    // waiter awaits) to be cancelled, on `ex`, when the fetch ends. False
    // when it has ended already (do not wait).
    bool add_waiter(net::Executor ex, std::shared_ptr<net::asio::steady_timer> t);
    // Whether the fetch ended with a stored response (read after waking).
    bool stored() const;

   private:
    friend class CacheRule;
    mutable std::mutex mu_;
    bool done_ = false;
    bool stored_ = false;
    std::vector<std::pair<net::Executor, std::shared_ptr<net::asio::steady_timer>>> waiters_;
  };

  enum class Join : uint8_t {
    lead,   // no fetch of the key in progress: the caller fetches, then calls finish()
    wait,   // another request fetches it: wait on `fill`, then look up again
    pass,   // recent fetches of it were not storable: fetch without collapsing
  };
  // For a request about to go upstream for `primary_key` (a miss, a stale
  // entry). `now_ms`: steady clock.
  Join join(std::string_view primary_key, int64_t now_ms, std::shared_ptr<Fill>& fill) const;
  // The leader's fetch ended; `stored`: its response is in the store now.
  // Wakes every waiter. Call exactly once per lead.
  void finish(std::string_view primary_key, const std::shared_ptr<Fill>& fill, bool stored,
              int64_t now_ms) const;
  // One upstream fetch whose response may be stored, registered under its
  // key while it runs (begin_flight .. end_flight).
  class Flight {
   public:
    // The key was invalidated while the fetch ran: its response may predate
    // the write that invalidated it, so it must not be stored.
    bool voided() const { return voided_.load(std::memory_order_acquire); }

   private:
    friend class CacheRule;
    std::atomic<bool> voided_{false};
  };
  std::shared_ptr<Flight> begin_flight(std::string_view primary_key) const;
  void end_flight(std::string_view primary_key, const std::shared_ptr<Flight>& flight) const;

  // An unsafe request changed the resource (RFC 9111 4.4): every fetch of
  // the key in flight is voided, and the fill others would wait on is
  // detached (later requests fetch anew; its current waiters still wake
  // when it ends, and find nothing stored). The caller erases the stored
  // responses.
  void invalidate(std::string_view primary_key) const;

 private:
  std::unique_ptr<cache::Store> store_;
  cache::Options options_;
  uint64_t max_object_;
  uint64_t max_size_;
  struct Table {
    std::mutex mu;
    core::StringMap<std::shared_ptr<Fill>> fills;
    // Key -> until when (steady ms) its requests do not wait for each other.
    core::StringMap<int64_t> pass_until;
    // Key -> the fetches of it in flight.
    core::StringMap<std::vector<std::shared_ptr<Flight>>> flights;
  };
  std::unique_ptr<Table> table_;
};

}  // namespace gh::policy
