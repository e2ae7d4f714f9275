// One request's dealings with its route's cache (policy/cache.h), as the
// forward path keeps them (proxy/forward_cache.cc): the key, the stored
// response it serves or revalidates, the fetch it leads for waiters, the
// response being stored as it is relayed, and the RFC 9211 Cache-Status
// that tells the client which of these happened.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cache/store.h"
#include "http/body.h"
#include "net/asio.h"
#include "policy/cache.h"

namespace gh::proxy {

struct CacheExchange {
  const policy::CacheRule* rule = nullptr;   // null: the route does not cache
  std::string key;                            // primary key (cache/key.h)
  // The stored response served, or revalidated upstream.
  std::shared_ptr<const cache::Entry> entry;
  // Set while this request leads a fetch others wait on (finish() once).
  std::shared_ptr<policy::CacheRule::Fill> fill;

  // Cache-Status parameters (RFC 9211 section 2).
  bool hit = false;
  const char* fwd = "";        // "miss", "vary-miss", "stale", "request", "method", "bypass"; "": none
  int fwd_status = 0;          // the upstream response's status, once there is one
  bool stored = false;         // the response went (or is going) into the store
  bool has_ttl = false;
  int64_t ttl = 0;             // seconds of freshness left (negative: stale)
  const char* detail = "";

  bool may_store = false;      // a GET for the store (not a bypass): its response may be kept
  bool serving = false;        // the response comes from `entry`: our Age replaces its own
  int64_t age = 0;             // seconds
  bool revalidating = false;   // the upstream request carries `entry`'s validators
  int64_t request_time = 0;    // unix seconds, when the upstream request went

  // The response being stored while relayed (storing: not given up).
  bool storing = false;
  std::unique_ptr<cache::Entry> pending;

  // Unsafe requests: the target as scheme, authority and normalized path
  // (copied: the head may be gone when the response arrives), for 4.4
  // invalidation.
  // scheme, authority, the path as sent, then the normalized path.
  std::string target;
  size_t scheme_len = 0, authority_len = 0, path_len = 0;
  // This request's fetch, registered under `key` while it runs: an
  // invalidation meanwhile voids it, and then nothing it got is stored.
  std::shared_ptr<policy::CacheRule::Flight> flight;

  std::string value;           // the Cache-Status value, built by status_value()

  // Ready for a request on a route with `r` (or none).
  void reset(const policy::CacheRule* r);
  // "gatehouse; hit; ttl=5", "gatehouse; fwd=miss; fwd-status=200; stored" ...
  std::string_view status_value();
  // The short form for the access log: the value without "gatehouse; ".
  std::string_view log_value() const;

  // The pending entry is whole: it goes into the store, and the fetch this
  // request leads (if any) ends. Returns whether it was stored. A no-op
  // (false) with nothing pending.
  bool commit_pending();
  // Ends the fetch this request leads, if any: its waiters wake and find
  // the store as `stored` says.
  void finish_fill(bool stored);
  // Ends the fetch's registration (flight). Safe to call when there is none.
  void end_flight();
};

// Copies a response body into the pending store entry on its way to the
// client, up to `max_object` bytes; past that the entry is dropped (the
// response streams on, unstored; Cache-Status already went out). The entry
// is stored as soon as the body's end arrives, before the client has it,
// so requests waiting for this fetch do not wait for this client's pace
// too.
class CacheTee final : public http::BodySink {
 public:
  CacheTee(http::BodySink& inner, CacheExchange& cx, uint64_t max_object)
      : inner_(inner), cx_(cx), max_(max_object) {}
  net::awaitable<bool> write(const http::BodyBatch& b) override;
  bool holds_head() const override { return inner_.holds_head(); }

 private:
  http::BodySink& inner_;
  CacheExchange& cx_;
  uint64_t max_;
};

}  // namespace gh::proxy
