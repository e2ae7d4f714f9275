// A JWK Set fetched from a URL (the jwt policy's jwks_url) on a thread of
// its own, never on a worker: at start, every `refresh` (or sooner when the
// response's Cache-Control max-age says so), and when a token names a key id
// the set lacks (a key rotation), at most once per kKidRefetchMs. A failed
// fetch keeps the keys already held. One source per URL, shared by every
// route and by the runtime a reload builds, so a reload keeps the keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "jose/jwk.h"

namespace gh::policy {

// Fetches run with libcurl: at most kMaxJwksBytes of body, kFetchTimeoutMs
// in all, up to 3 redirects (https stays https), 200 only.
inline constexpr size_t kMaxJwksBytes = 1 << 20;
inline constexpr long kFetchTimeoutMs = 10'000;
inline constexpr int64_t kKidRefetchMs = 30'000;

class JwksSource {
 public:
  // The source for `url`, created (and its first fetch started) when no
  // live one exists for this URL and refresh; an existing one is asked to
  // fetch again now (a reload means "re-read what you use") unless a fetch
  // began in the last 0.5 s (every route of one config asks in turn).
  static std::shared_ptr<JwksSource> get(const std::string& url, std::chrono::milliseconds refresh);
  // At process exit: tells every source's fetch thread to end (a transfer
  // in progress is aborted) and waits up to `wait` for all of them, so no
  // thread runs curl or OpenSSL while the process tears down. False when
  // one was still running at the end of `wait`.
  static bool stop_all(std::chrono::milliseconds wait);
  ~JwksSource();   // stops the fetch thread (without waiting for it)
  JwksSource(const JwksSource&) = delete;
  JwksSource& operator=(const JwksSource&) = delete;

  // The keys of the last good fetch; nullptr before the first one.
  std::shared_ptr<const jose::KeySet> keys() const;
  // Bumped by every good fetch: lets caches of verified tokens see new keys.
  uint64_t version() const;
  // Fetches finished (good or not) since the start.
  uint64_t fetches_done() const;
  // A token named an unknown kid: asks for a fetch now. Returns the value of
  // fetches_done() to wait for, or 0 when a fetch for this reason ran less
  // than kKidRefetchMs ago (a client inventing kids cannot make us hammer
  // the IdP). Callers waiting for a fetch already asked for share it.
  uint64_t refetch_for_unknown_kid();
  // Before the first fetch finished: the value of fetches_done() to wait for.
  uint64_t first_fetch() const { return 1; }

  struct State;   // shared with the fetch thread

 private:
  explicit JwksSource(std::shared_ptr<State> st) : st_(std::move(st)) {}
  std::shared_ptr<State> st_;
};

}  // namespace gh::policy
