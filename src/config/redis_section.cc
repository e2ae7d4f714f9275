// The top-level `redis` section: where `rate_limit` with `store: redis`
// keeps its buckets, shared by every gatehouse naming the same server.
#include <fstream>

#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {

namespace {

// The password is the file's first line (a trailing newline is not part of
// it), as `requirepass` in redis.conf would hold it; kept out of the config
// file so that file can be shown around.
std::optional<std::string> read_password(Ctx& ctx, const Value& v, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string text(4097, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (f.bad()) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": cannot be read");
    return std::nullopt;
  }
  text.resize(static_cast<size_t>(f.gcount()));
  if (size_t nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty() || text.size() > 4096) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": the first line must hold the password "
                      "(1 to 4096 bytes)");
    return std::nullopt;
  }
  return text;
}

}  // namespace

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
    } else if (e.key == "password_file") {
      Value val = e.value;
      val.name = "redis 'password_file'";
      auto path = read_file_path(ctx, val, true);
      if (!path) continue;
      if (auto pw = read_password(ctx, val, *path)) out.password = *pw;
    } else if (e.key == "db") {
      if (auto n = read_uint(ctx, e.value, 0, 1'000'000)) out.db = static_cast<uint32_t>(*n);
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
