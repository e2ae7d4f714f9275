#include "policy/redis_buckets.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "core/clock.h"
#include "core/log.h"
#include "policy/redis_connection.h"

namespace gh::policy {
namespace {

// KEYS[1]: the bucket. ARGV[1]: microseconds per request (the rate),
// ARGV[2]: that times the burst. The stored value is the "theoretical
// arrival time": when the bucket is full again. A request fits when taking
// it leaves that time at most ARGV[2] ahead of now. Stored rounded down, so
// rounding never refuses a request the rate allows. Numbers go to Redis
// as '%.0f' text, so however a Redis version formats Lua numbers (an
// exponent form would be refused by PX), SET gets plain integers. Returns {allowed,
// remaining, microseconds until a request is allowed}.
constexpr const char* kScript = R"(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > tau then return {0, 0, math.ceil(ahead - tau)} end
redis.call('SET', KEYS[1], string.format('%.0f', math.floor(now + ahead)), 'PX',
           string.format('%.0f', math.ceil(ahead / 1000) + 1))
return {1, math.floor((tau - ahead) / interval), 0}
)";

std::string hex_digest(const char* md_name, std::string_view data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_get_digestbyname(md_name), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 15];
  }
  return out;
}

// EVALSHA names a script by the SHA-1 of its text (Redis's choice).
const std::string& script_sha() {
  static const std::string sha = hex_digest("SHA1", kScript);
  return sha;
}

std::atomic<uint64_t> g_decisions{0};
std::atomic<uint64_t> g_errors{0};
std::atomic<int64_t> g_last_warn_ms{-1'000'000};
constexpr int64_t kWarnEveryMs = 5000;

using core::steady_ms;

// One decision in flight: the reply, and the request's timer to wake.
// Shared with the connection, which may answer after the request gave up.
struct Decision final : RedisReplyHandler, std::enable_shared_from_this<Decision> {
  std::string key, interval, tau;
  net::asio::steady_timer* wake = nullptr;   // null once the request stopped waiting
  bool done = false;
  bool retried = false;
  StoreTake result;

  void finish() {
    done = true;
    if (wake) wake->cancel();
  }

  void on_reply(RedisConnection& conn, const redisReply* r, const std::string& error) override {
    if (!r) {
      result.error = error;
      return finish();
    }
    if (r->type == REDIS_REPLY_ERROR) {
      std::string_view msg(r->str, r->len);
      if (msg.starts_with("NOSCRIPT") && !retried) {
        // Redis lost its script cache (restarted, flushed): send it whole once.
        retried = true;
        std::string e;
        if (conn.send({"EVAL", kScript, "1", key, interval, tau}, shared_from_this(), e)) return;
        result.error = e;
        return finish();
      }
      result.error = "Redis error: " + std::string(msg.substr(0, 200));
      return finish();
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER || r->element[2]->type != REDIS_REPLY_INTEGER) {
      result.error = "unexpected reply from Redis";
      return finish();
    }
    result.ok = true;
    result.allowed = r->element[0]->integer == 1;
    result.remaining = static_cast<uint64_t>(std::max<long long>(0, r->element[1]->integer));
    result.retry_after_s = double(std::max<long long>(0, r->element[2]->integer)) / 1e6;
    finish();
  }
};

// Clears the decision's pointer to the request's timer when the request
// stops waiting, also when its coroutine is destroyed while suspended.
struct WakeGuard {
  Decision* d;
  ~WakeGuard() { d->wake = nullptr; }
};

std::string decimal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

RedisBuckets::RedisBuckets(const config::RateLimit& c)
    : server_(c.redis), timeout_(c.redis.timeout),
      fail_open_(c.fail == config::RateLimit::Fail::open) {
  const std::string& h = server_.host;
  address_ = (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(server_.port);
  const double interval = double(c.period_s) * 1e6 / double(c.count);
  interval_us_ = decimal(interval);
  tau_us_ = decimal(interval * double(std::max<uint64_t>(c.burst, 1)));
  prefix_ = "gatehouse:rl:" + c.scope + "|" + std::to_string(c.count) + "/" + std::to_string(c.period_s) +
            "s|b" + std::to_string(c.burst);
  switch (c.key) {
    case config::RateLimit::Key::client_ip: prefix_ += "|ip:"; break;
    case config::RateLimit::Key::header: prefix_ += "|h:" + c.header + ":"; break;
    case config::RateLimit::Key::route: prefix_ += "|route:"; break;
  }
}

std::string RedisBuckets::redis_key(std::string_view value) const {
  if (value.size() > 128) return prefix_ + "#" + hex_digest("SHA256", value);
  return prefix_ + std::string(value);
}

net::awaitable<StoreTake> RedisBuckets::take(std::string key) const {
  const net::Executor ex = co_await net::asio::this_coro::executor;
  g_decisions.fetch_add(1, std::memory_order_relaxed);
  auto d = std::make_shared<Decision>();
  d->key = redis_key(key);
  d->interval = interval_us_;
  d->tau = tau_us_;
  // A connection whose oldest command waits far longer than any decision
  // would is dead even if TCP has not noticed.
  const int64_t stall_ms = std::max<int64_t>(1000, 4 * timeout_.count());
  RedisConnection& conn = RedisConnection::for_thread(ex, server_, stall_ms);
  std::string err;
  const bool sent = conn.send({"EVALSHA", script_sha(), "1", d->key, d->interval, d->tau}, d, err);
  if (!sent) {
    d->result.error = err;
  } else {
    net::asio::steady_timer t(ex);
    t.expires_after(timeout_);
    d->wake = &t;
    WakeGuard guard{d.get()};
    if (!d->done) co_await t.async_wait(net::nothrow);
    if (!d->done) d->result.error = "no answer within " + std::to_string(timeout_.count()) + " ms";
  }
  if (!d->result.ok) {
    const uint64_t n = g_errors.fetch_add(1, std::memory_order_relaxed) + 1;
    const int64_t now = steady_ms();
    int64_t last = g_last_warn_ms.load(std::memory_order_relaxed);
    if (now - last >= kWarnEveryMs && g_last_warn_ms.compare_exchange_strong(last, now)) {
      GH_WARN("rate_limit: Redis at %s: %s; failing %s (%llu store errors so far)", address_.c_str(),
              d->result.error.c_str(), fail_open_ ? "open" : "closed", static_cast<unsigned long long>(n));
    }
  }
  co_return d->result;
}

RateLimitStoreStats rate_limit_store_stats() {
  return {g_decisions.load(std::memory_order_relaxed), g_errors.load(std::memory_order_relaxed)};
}

}  // namespace gh::policy
