// rate_limit: a token bucket per key (the client's address, a request
// field's value, or the whole route) with `store: local`. Over the limit:
// 429 http_request_denied with Retry-After (RFC 9110 10.2.3) and the IETF
// RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers:
// the policy's quota `q` per window `w` seconds; `r` requests remaining, `t`
// seconds until there is one again).
#include <chrono>
#include <cmath>

#include "policy/kinds.h"
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
  }
  const char* name() const override { return "rate_limit"; }
  bool acts_on_request() const override { return true; }
  Verdict on_request(Exchange& ex) const override;

 private:
  config::RateLimit conf_;
  mutable TokenBuckets buckets_;   // (thread-safe: shards behind mutexes)
  std::string policy_field_;
  std::string rate_text_;
};

Verdict RateLimitPolicy::on_request(Exchange& ex) const {
  std::string_view key;
  switch (conf_.key) {
    case config::RateLimit::Key::client_ip:
      key = ex.client_ip_str;
      break;
    case config::RateLimit::Key::header:
      // (Requests without the field share one bucket.)
      key = http::find_field(ex.request->fields, conf_.header);
      break;
    case config::RateLimit::Key::route:
      break;
  }
  const TokenBuckets::Take t = buckets_.take(key, steady_ns());
  if (t.allowed) return Verdict::next;
  const uint64_t retry = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(t.retry_after_s)));
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

}  // namespace

std::unique_ptr<Policy> make_rate_limit(const config::RateLimit& conf) {
  return std::make_unique<RateLimitPolicy>(conf);
}

}  // namespace gh::policy
