// The top-level `redis` section: where `rate_limit` with `store: redis`
// keeps its buckets, shared by every gatehouse naming the same server.
#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {

void load_redis(Ctx& ctx, const Value& v, RateLimit::Redis& out) {
  bool have_address = false;
  for (const Entry& e : map_entries(ctx, v, "redis", keys::kRedis)) {
    if (e.key == "address") {
      have_address = true;   // (a bad one has its own error)
      auto s = read_string(ctx, e.value);
      if (!s) continue;
      std::string why;
      if (auto hp = parse_address(*s, 6379, why)) {
        out.host = hp->host;
        out.port = hp->port;
      } else {
        ctx.error(e.value.mark, "redis 'address' " + shown(*s) + ": " + why);
      }
    } else if (e.key == "timeout") {
      // (Past a second a rate limit costs more than it saves.)
      if (auto d = read_duration(ctx, e.value, Duration(1))) {
        if (*d > 10s) ctx.error(e.value.mark, "redis 'timeout' must be at most 10s (it is how long a "
                                              "request may wait for its rate limit decision)");
        else out.timeout = *d;
      }
    }
  }
  if (!have_address) ctx.error(v.mark, "'redis' needs an 'address', e.g. {address: 127.0.0.1:6379}");
}

void finish_redis(Ctx& ctx, Config& cfg) {
  if (!cfg.redis) {
    for (const YAML::Mark& at : ctx.redis_stores)
      ctx.error(at, "'store: redis' needs a top-level 'redis' section naming the server, e.g. "
                    "redis: {address: 127.0.0.1:6379}");
    return;
  }
  auto fill = [&](Policies& p) {
    if (p.rate_limit && p.rate_limit->store == RateLimit::Store::redis) p.rate_limit->redis = *cfg.redis;
  };
  fill(cfg.server.policies);
  for (Route& r : cfg.server.reverse_proxy) fill(r.policies);
}

}  // namespace gh::config::detail
