// Idle keep-alive connections to backends, one pool per worker (no locks).
// Connections are reused last-in-first-out so a few stay warm and the rest
// age out; a connection the backend has closed is dropped when taken.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "net/stream.h"
#include "core/local_counter.h"
#include "upstream/backend.h"

namespace gh::upstream {

struct UpConn {
  explicit UpConn(net::Stream s, Backend* b) : stream(std::move(s)), backend(b) {}
  net::Stream stream;
  Backend* backend;
  int64_t idle_since_ms = 0;
  uint32_t uses = 0;        // requests already carried; >0 means "reused"
};

class Pool {
 public:
  // Returns an idle connection to `b` that still looks alive, or nullptr.
  // `always_check`: peek even at a connection reused within kPeekAfterMs,
  // for a request that could not be retried if the connection proved stale.
  std::unique_ptr<UpConn> take(Backend* b, bool always_check = false);
  // Keeps `c` for reuse (it must be at a message boundary with nothing unread).
  void put(std::unique_ptr<UpConn> c);
  // Drops every idle connection (shutdown, reload).
  void clear();
  // Closes connections idle for idle_timeout_ms or longer, so a burst's
  // extra backend connections do not stay open when traffic stops (and
  // those to the backends of a replaced config go within that time).
  void expire(int64_t now_ms);

  // Enough for ~1,000 concurrent requests per worker to one backend without
  // a connect each (measured: 1,000 keep-alive clients cost 43 us per
  // request with 256, 16 us with 1,024).
  size_t max_idle_per_backend = 1024;
  // Idle at least this long, a connection is checked (one MSG_PEEK) when taken.
  static constexpr int64_t kPeekAfterMs = 5;
  int64_t idle_timeout_ms = 60000;

  // Idle connections held now; readable from any thread (the metrics scraper).
  int64_t idle_count() const { return idle_count_.get(); }

 private:
  core::LocalGauge idle_count_;   // written by the owning worker only
  void age_out(std::vector<std::unique_ptr<UpConn>>& v, int64_t now, size_t extra);
  // By Backend::id, not address: see Backend::id. Emptied entries are
  // erased by expire(), so backends of replaced configs leave nothing behind.
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<UpConn>>> idle_;
};

}  // namespace gh::upstream
