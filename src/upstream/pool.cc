#include "upstream/pool.h"

#include <sys/socket.h>

#include <iterator>

#include "net/deadlines.h"

namespace gh::upstream {

// A closed or chatty idle connection is useless: the peek costs one
// syscall and saves a failed request plus a retry (or, for a backend that
// sent bytes after its response, serving those bytes as the next answer).
static bool looks_alive(net::Stream& s) {
  if (!s.quiet()) return false;   // TLS: OpenSSL holds bytes the backend sent unasked
  char c;
  ssize_t r = ::recv(s.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<UpConn> Pool::take(Backend* b, bool always_check) {
  auto it = idle_.find(b->id);
  if (it == idle_.end()) return nullptr;
  auto& v = it->second;
  int64_t now = net::now_ms();
  while (!v.empty()) {
    std::unique_ptr<UpConn> c = std::move(v.back());
    v.pop_back();
    idle_count_.sub();
    int64_t idle = now - c->idle_since_ms;
    // Reused within a few milliseconds, a connection skips the peek: under
    // load that is most reuses, and the peek was ~3 % of the CPU per
    // request. Bytes that arrive that soon after a response could as well
    // arrive just after a peek, which no check before reuse can catch.
    if (idle < idle_timeout_ms && ((idle < kPeekAfterMs && !always_check) || looks_alive(c->stream)))
      return c;
    c->stream.close();
  }
  return nullptr;
}

// Closes the connections idle for idle_timeout_ms or longer (the oldest sit
// at the front), and `extra` more of the oldest.
void Pool::age_out(std::vector<std::unique_ptr<UpConn>>& v, int64_t now, size_t extra) {
  size_t drop = 0;
  while (drop < v.size() && now - v[drop]->idle_since_ms >= idle_timeout_ms) ++drop;
  drop = std::min(drop + extra, v.size());
  if (drop == 0) return;
  for (size_t i = 0; i < drop; ++i) v[i]->stream.close();
  idle_count_.sub(static_cast<int64_t>(drop));
  v.erase(v.begin(), v.begin() + drop);
}

void Pool::put(std::unique_ptr<UpConn> c) {
  auto& v = idle_[c->backend->id];
  int64_t now = net::now_ms();
  age_out(v, now, 0);
  if (v.size() >= max_idle_per_backend) age_out(v, now, 1);
  c->idle_since_ms = now;
  v.push_back(std::move(c));
  idle_count_.add();
}

void Pool::expire(int64_t now) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    age_out(it->second, now, 0);
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

void Pool::clear() {
  for (auto& [b, v] : idle_)
    for (auto& c : v) c->stream.close();
  idle_.clear();
  idle_count_.set(0);
}

}  // namespace gh::upstream
