// rate_limit: a token bucket per key (the client's address, a request
// field's value, or the whole route), in this process (`store: local`,
// token_buckets.h) or in Redis (`store: redis`, redis_buckets.h). Over the
// limit, the same answer from either store:
// 429 http_request_denied with Retry-After (RFC 9110 10.2.3) and the IETF
// RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers:
// the policy's quota `q` per window `w` seconds; `r` requests remaining, `t`
// seconds until there is one again).
#include <chrono>
#include <cmath>

#include "policy/kinds.h"
#include "policy/redis_buckets.h"
#include "policy/token_buckets.h"

namespace gh::policy {
namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class RateLimitPolicy final : public Policy {
 public:
  explicit RateLimitPolicy(const config::RateLimit& c)
      : conf_(c), buckets_(double(c.count) / double(c.period_s), double(c.burst)) {
    policy_field_ = "\"gatehouse\";q=" + std::to_string(c.count) + ";w=" + std::to_string(c.period_s);
    rate_text_ = std::to_string(c.count) + (c.period_s == 1 ? "/s" : c.period_s == 60 ? "/m" : "/h");
    if (c.store == config::RateLimit::Store::redis) redis_.emplace(c);
  }
  const char* name() const override { return "rate_limit"; }
  bool acts_on_request() const override { return true; }
  Verdict on_request(Exchange& ex) const override;
  net::awaitable<Verdict> resume(Exchange& ex) const override;

 private:
  std::string_view key_of(const Exchange& ex) const;
  // The 429 (both stores): Retry-After and the RateLimit fields.
  Verdict over_limit(Exchange& ex, double retry_after_s) const;
  // fail: closed and the store did not answer: 503.
  Verdict store_unavailable(Exchange& ex) const;

  config::RateLimit conf_;
  mutable TokenBuckets buckets_;   // store: local (thread-safe: shards behind mutexes)
  std::optional<RedisBuckets> redis_;
  std::string policy_field_;
  std::string rate_text_;
};

std::string_view RateLimitPolicy::key_of(const Exchange& ex) const {
  switch (conf_.key) {
    case config::RateLimit::Key::client_ip:
      return ex.client_ip_str;
    case config::RateLimit::Key::header:
      // (Requests without the field share one bucket.)
      return http::find_field(ex.request->fields, conf_.header);
    case config::RateLimit::Key::route:
      break;
  }
  return {};
}

Verdict RateLimitPolicy::on_request(Exchange& ex) const {
  if (redis_) return Verdict::suspend;   // (the decision is asked in resume)
  const TokenBuckets::Take t = buckets_.take(key_of(ex), steady_ns());
  if (t.allowed) return Verdict::next;
  return over_limit(ex, t.retry_after_s);
}

net::awaitable<Verdict> RateLimitPolicy::resume(Exchange& ex) const {
  std::string key(key_of(ex));
  StoreTake t = co_await redis_->take(std::move(key));
  if (!t.ok) {
    if (conf_.fail == config::RateLimit::Fail::closed) co_return store_unavailable(ex);
    co_return Verdict::next;
  }
  if (t.allowed) co_return Verdict::next;
  co_return over_limit(ex, t.retry_after_s);
}

Verdict RateLimitPolicy::over_limit(Exchange& ex, double retry_after_s) const {
  const uint64_t retry = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(retry_after_s)));
  Answer a;
  a.status = 429;
  a.details = "rate_limit: over " + rate_text_;
  if (conf_.key == config::RateLimit::Key::client_ip) {
    a.details += " for ";
    a.details += ex.client_ip_str;
  } else if (conf_.key == config::RateLimit::Key::header) {
    a.details += " for this " + conf_.header;
  }
  a.fields.emplace_back("Retry-After", std::to_string(retry));
  a.fields.emplace_back("RateLimit-Policy", policy_field_);
  a.fields.emplace_back("RateLimit", "\"gatehouse\";r=0;t=" + std::to_string(retry));
  ex.answer = std::move(a);
  return Verdict::answered;
}

Verdict RateLimitPolicy::store_unavailable(Exchange& ex) const {
  Answer a;
  a.status = 503;
  a.details = "rate_limit: store unavailable";
  ex.answer = std::move(a);
  return Verdict::answered;
}

}  // namespace

std::unique_ptr<Policy> make_rate_limit(const config::RateLimit& conf) {
  return std::make_unique<RateLimitPolicy>(conf);
}

}  // namespace gh::policy
