#include <algorithm>

#include "config/address.h"
#include "config/keys.h"
#include "config/route_path.h"
#include "config/sections.h"

namespace gh::config::detail {
namespace {


// One backends entry: {address, weight, backup}.
std::optional<BackendConf> load_backend(Ctx& ctx, const Value& v, uint16_t default_port) {
  if (!v.node.IsMap()) {
    ctx.error(v.mark, v.name + " must be a map with an 'address', got " + kind_of(v.node));
    return std::nullopt;
  }
  BackendConf b;
  b.mark = to_mark(v.mark);
  bool have_address = false;
  bool ok = true;
  for (const Entry& e : map_entries(ctx, v, "backend", keys::kBackend)) {
    if (e.key == "address") {
      have_address = true;
      auto s = read_string(ctx, e.value);
      if (!s) {
        ok = false;
        continue;
      }
      std::string why;
      if (auto hp = parse_address(*s, default_port, why)) {
        b.host = hp->host;
        b.port = hp->port;
      } else {
        ctx.error(e.value.mark, "'address' " + shown(*s) + ": " + why);
        ok = false;
      }
    } else if (e.key == "weight") {
      if (auto n = read_uint(ctx, e.value, 1, 1000)) b.weight = static_cast<unsigned>(*n);
    } else if (e.key == "backup") {
      if (auto f = read_bool(ctx, e.value)) b.backup = *f;
    }
  }
  if (!have_address) {
    ctx.error(v.mark, "a backend needs an 'address' (host:port)");
    return std::nullopt;
  }
  if (!ok) return std::nullopt;
  return b;
}

// Accepts 200, "200" or "200-399" with codes 100..599, low <= high.
void load_expect_status(Ctx& ctx, const Value& v, HealthCheck& hc) {
  auto s = read_text(ctx, v, "a status code or range like 200-399");
  if (!s) return;
  std::string_view t = *s;
  size_t dash = t.find('-');
  auto lo = parse_decimal(t.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : parse_decimal(t.substr(dash + 1));
  if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) {
    ctx.error(v.mark, "'expect_status' must be a status code (100-599) or a range like 200-399, got " +
                          shown(*s));
    return;
  }
  hc.expect_min = static_cast<unsigned>(*lo);
  hc.expect_max = static_cast<unsigned>(*hi);
}

}  // namespace

void load_health_check(Ctx& ctx, const Value& v, HealthCheck& hc, bool tcp_only) {
  hc.enabled = true;
  std::optional<YAML::Mark> timeout_mark;
  bool interval_given = false;
  for (const Entry& e : map_entries(ctx, v, "health_check", keys::kHealthCheck)) {
    if (tcp_only && (e.key == "path" || e.key == "expect_status")) {
      ctx.error(e.key_mark, "a stream's health_check is a TCP connect: '" + e.key +
                                "' does not apply (remove it)");
      continue;
    }
    if (e.key == "path") {
      auto s = read_string(ctx, e.value);
      std::string why;
      if (s && valid_check_path(*s, why)) hc.path = *s;
      else if (s) ctx.error(e.value.mark, "health_check 'path' " + shown(*s) + ": " + why);
    } else if (e.key == "interval") {
      interval_given = true;
      if (auto d = read_duration(ctx, e.value, kPositive)) hc.interval = *d;
    } else if (e.key == "timeout") {
      if (auto d = read_duration(ctx, e.value, kPositive)) {
        hc.timeout = *d;
        timeout_mark = e.value.mark;
      }
    } else if (e.key == "healthy") {
      if (auto n = read_uint(ctx, e.value, 1, 100)) hc.healthy = static_cast<unsigned>(*n);
    } else if (e.key == "unhealthy") {
      if (auto n = read_uint(ctx, e.value, 1, 100)) hc.unhealthy = static_cast<unsigned>(*n);
    } else if (e.key == "expect_status") {
      load_expect_status(ctx, e.value, hc);
    }
  }
  // A timeout longer than the interval is fine: a check may take up to
  // `timeout`, and the next one starts when it is due and the previous one
  // has finished (probes of one backend never overlap). Only the default
  // follows a short interval, so that `interval: 1s` alone keeps its pace.
  if (!timeout_mark && interval_given && hc.timeout > hc.interval) hc.timeout = hc.interval;
}

std::optional<Balance> read_balance(Ctx& ctx, const Value& v) {
  return read_enum<Balance>(ctx, v, {{"round_robin", Balance::round_robin},
                                     {"least_conn", Balance::least_conn},
                                     {"ip_hash", Balance::ip_hash},
                                     {"random", Balance::random}});
}

void load_backends(Ctx& ctx, const Entry& backends, uint16_t default_port, const char* owner,
                   std::vector<BackendConf>& out) {
  std::vector<Value> items = list_items(ctx, backends.value);
  if (items.empty() && (backends.value.node.IsSequence() || backends.value.node.IsNull())) {
    ctx.error(backends.value.mark, "'backends' must list at least one backend");
  }
  bool all_loaded = true;
  for (const Value& item : items) {
    Value bv = item;
    bv.name = "a backends entry";
    auto b = load_backend(ctx, bv, default_port);
    if (!b) {
      all_loaded = false;
      continue;
    }
    if (b->port == 0) {
      ctx.error(item.mark, "backend '" + b->host + "' needs a port (host:port)");
      all_loaded = false;
      continue;
    }
    bool dup = std::any_of(out.begin(), out.end(), [&](const BackendConf& o) {
      return o.host == b->host && o.port == b->port;
    });
    if (dup) {
      ctx.error(item.mark, "backend '" + b->host + ":" + std::to_string(b->port) +
                               "' is listed twice in this " + owner);
      continue;
    }
    out.push_back(std::move(*b));
  }
  bool any_primary =
      std::any_of(out.begin(), out.end(), [](const BackendConf& b) { return !b.backup; });
  if (all_loaded && !out.empty() && !any_primary) {
    // Backups serve when no primary is usable, which with none is always.
    ctx.warn(backends.key_mark, "every backend is a backup; with no primary they serve as "
                                "primaries would");
  }
}

namespace {

void load_upstream_tls(Ctx& ctx, const Value& v, UpstreamTls& tls) {
  std::optional<YAML::Mark> cert_mark, key_mark;
  for (const Entry& e : map_entries(ctx, v, "tls", keys::kUpstreamTls)) {
    if (e.key == "verify") {
      if (auto f = read_bool(ctx, e.value)) tls.verify = *f;
    } else if (e.key == "ca_file") {
      if (auto p = read_file_path(ctx, e.value, true)) tls.ca_file = *p;
    } else if (e.key == "sni") {
      auto s = read_string(ctx, e.value);
      if (s && is_dns_name(*s)) tls.sni = *s;
      else if (s) ctx.error(e.value.mark, "'sni' must be a host name, got " + shown(*s));
    } else if (e.key == "cert_file") {
      cert_mark = e.key_mark;
      if (auto p = read_file_path(ctx, e.value, true)) tls.cert_file = *p;
    } else if (e.key == "key_file") {
      key_mark = e.key_mark;
      if (auto p = read_file_path(ctx, e.value, true)) tls.key_file = *p;
    }
  }
  if (cert_mark && !key_mark) {
    ctx.error(*cert_mark, "tls 'cert_file' needs 'key_file' too (client certificate for mTLS)");
  } else if (key_mark && !cert_mark) {
    ctx.error(*key_mark, "tls 'key_file' needs 'cert_file' too (client certificate for mTLS)");
  }
}

}  // namespace

Route load_route(Ctx& ctx, const Value& v, std::optional<YAML::Mark>& dup_mark) {
  Route r;
  r.mark = to_mark(v.mark);
  dup_mark.reset();
  if (v.node.IsMap()) dup_mark = v.mark;
  if (!v.node.IsMap()) {
    ctx.error(v.mark, v.name + " must be a map of settings, got " + kind_of(v.node));
  }
  std::string host = "localhost";
  uint16_t port = 80;  // PyServe's default, even with ssl: true
  std::optional<YAML::Mark> host_mark, port_mark;
  const Entry* backends = nullptr;
  const Entry* health = nullptr;
  const Entry* tls = nullptr;
  std::vector<Entry> entries = v.node.IsMap() ? map_entries(ctx, v, "route", keys::kRoute)
                                              : std::vector<Entry>{};
  for (const Entry& e : entries) {
    const Value& val = e.value;
    if (load_policy(ctx, e, r.policies)) continue;
    if (e.key == "path") {
      dup_mark.reset();
      auto s = read_string(ctx, val);
      if (!s) continue;
      std::string why;
      if (auto p = normalize_route_path(*s, why)) {
        r.path = *p;
        dup_mark = val.mark;
      } else {
        ctx.error(val.mark, "'path' " + shown(*s) + ": " + why);
      }
    } else if (e.key == "host") {
      host_mark = e.key_mark;
      auto s = read_string(ctx, val);
      if (!s) continue;
      std::string why;
      if (auto h = parse_host(*s, why)) host = *h;
      else ctx.error(val.mark, "'host' " + shown(*s) + ": " + why);
    } else if (e.key == "port") {
      port_mark = e.key_mark;
      if (auto p = read_port(ctx, val)) port = *p;
    } else if (e.key == "ssl") {
      if (auto f = read_bool(ctx, val)) r.ssl = *f;
    } else if (e.key == "websocket") {
      if (auto f = read_bool(ctx, val)) r.websocket = *f;
    } else if (e.key == "domains") {
      for (const Value& item : list_items(ctx, val)) {
        auto s = read_string(ctx, item);
        if (!s) continue;
        std::string why;
        auto d = parse_domain(*s, why);
        if (!d) {
          ctx.error(item.mark, "domain " + shown(*s) + ": " + why);
        } else if (std::find(r.domains.begin(), r.domains.end(), *d) == r.domains.end()) {
          r.domains.push_back(*d);
        }
      }
    } else if (e.key == "strip_prefix") {
      if (auto f = read_bool(ctx, val)) r.strip_prefix = *f;
    } else if (e.key == "preserve_host") {
      if (auto f = read_bool(ctx, val)) r.preserve_host = *f;
    } else if (e.key == "backends") {
      backends = &e;
    } else if (e.key == "upstream_protocol") {
      if (auto u = read_enum<UpstreamProtocol>(
              ctx, val, {{"http1", UpstreamProtocol::http1}, {"http2", UpstreamProtocol::http2}})) {
        r.upstream_protocol = *u;
      }
    } else if (e.key == "balance") {
      if (auto b = read_balance(ctx, val)) {
        r.balance = *b;
      }
    } else if (e.key == "retries") {
      if (auto n = read_uint(ctx, val, 0, 10)) r.retries = static_cast<unsigned>(*n);
    } else if (e.key == "health_check") {
      health = &e;
    } else if (e.key == "tls") {
      tls = &e;
    } else if (e.key == "redirect") {
      if (auto rd = read_enum<Redirect>(ctx, val, {{"https", Redirect::https}})) r.redirect = *rd;
    }
  }

  // Backends are read after the loop so that `ssl` (which sets their default
  // port) may come later in the entry.
  if (backends) {
    for (const auto& [given, what] : {std::pair{host_mark, "host"}, std::pair{port_mark, "port"}}) {
      if (given) {
        ctx.error(*given, std::string("conflicting options: '") + what +
                              "' and 'backends' in one route; give the address in backends");
      }
    }
    load_backends(ctx, *backends, r.ssl ? 443 : 80, "route", r.backends);
  }
  if (r.backends.empty()) {
    // The PyServe shape: host/port is the single backend. Also the fallback
    // when backends had errors, so the route stays usable for later checks.
    BackendConf b;
    b.host = host;
    b.port = port;
    b.mark = to_mark(host_mark ? *host_mark : v.mark);
    r.backends.push_back(std::move(b));
  }

  if (health) load_health_check(ctx, health->value, r.health_check, false);
  if (tls) {
    if (!r.ssl) {
      ctx.warn(tls->key_mark, "'tls' has no effect while 'ssl' is false; add 'ssl: true' for TLS "
                              "to the backend");
    }
    load_upstream_tls(ctx, tls->value, r.tls);
  }
  return r;
}

}  // namespace gh::config::detail
