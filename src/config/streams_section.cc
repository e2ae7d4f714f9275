// The top-level `streams` list (CONTRACT "L4 streams, PROXY protocol"): TCP
// proxying by its own listener (`listen`) or by TLS server name on the TLS
// listener (`sni`, passthrough).
#include <algorithm>

#include "config/address.h"
#include "core/cidr.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {
namespace {


// An sni name as written, for "already listed" messages.
struct SniSeen {
  std::string name;
  int line = 0;
};

// A listener the config already has: its address and what to call it.
struct Taken {
  std::string host;
  uint16_t port = 0;
  std::string what;
};

void load_stream_timeouts(Ctx& ctx, const Value& v, StreamRoute& s) {
  for (const Entry& e : map_entries(ctx, v, "streams.timeouts", keys::kStreamTimeouts)) {
    if (e.key == "connect") {
      if (auto d = read_duration(ctx, e.value, kPositive)) s.connect_timeout = *d;
    } else if (e.key == "idle") {
      if (auto d = read_duration(ctx, e.value, kPositive)) s.idle_timeout = *d;
    }
  }
}

void load_sni(Ctx& ctx, const Value& v, StreamRoute& s, std::vector<SniSeen>& seen) {
  std::vector<Value> items = list_items(ctx, v);
  if (items.empty() && (v.node.IsSequence() || v.node.IsNull()))
    ctx.error(v.mark, "'sni' must list at least one server name");
  for (const Value& item : items) {
    auto text = read_string(ctx, item);
    if (!text) continue;
    std::string_view bare = *text;
    if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
    if (core::parse_ip(bare)) {
      ctx.error(item.mark, "'sni' " + shown(*text) + ": an IP address is never a TLS server name "
                           "(RFC 6066 3: clients send host names only); use a 'listen' stream");
      continue;
    }
    std::string why;
    auto name = parse_domain(*text, why);
    if (!name) {
      // parse_domain's '*' message carries the routes' hint; a stream has its own.
      if (why.starts_with("'*'"))
        why = "'*' is only allowed as a whole first label, like *.example.com (for every name, "
              "give the stream its own 'listen')";
      ctx.error(item.mark, "'sni' " + shown(*text) + ": " + why);
      continue;
    }
    auto it = std::find_if(seen.begin(), seen.end(), [&](const SniSeen& o) { return o.name == *name; });
    if (it != seen.end()) {
      ctx.error(item.mark, "'sni' " + shown(*name) + " is already listed (line " +
                               std::to_string(it->line) + "); a name can go to one stream only");
      continue;
    }
    seen.push_back({*name, to_mark(item.mark).line});
    s.sni.push_back(std::move(*name));
  }
}

StreamRoute load_stream(Ctx& ctx, const Value& v, const Config& cfg, std::vector<SniSeen>& sni_seen,
                        std::vector<Taken>& taken) {
  StreamRoute s;
  s.mark = to_mark(v.mark);
  s.connect_timeout = cfg.server.timeouts.connect;
  s.idle_timeout = cfg.server.timeouts.tunnel_idle;
  if (!v.node.IsMap()) {
    ctx.error(v.mark, "a streams entry must be a map with 'listen' or 'sni' and 'backends', got " +
                          std::string(kind_of(v.node)));
    return s;
  }
  const Entry* listen = nullptr;
  const Entry* sni = nullptr;
  const Entry* backends = nullptr;
  // A named vector: `listen`, `sni` and `backends` point into it after the loop.
  const std::vector<Entry> entries = map_entries(ctx, v, "stream", keys::kStream);
  for (const Entry& e : entries) {
    const Value& val = e.value;
    if (e.key == "listen") {
      listen = &e;
      auto text = read_string(ctx, val);
      if (!text) continue;
      std::string why;
      auto hp = parse_address(*text, 0, why);
      if (!hp) {
        ctx.error(val.mark, "'listen' " + shown(*text) + ": " + why);
      } else if (hp->port == 0) {
        ctx.error(val.mark, "'listen' " + shown(*text) + " needs a port (host:port, e.g. 0.0.0.0:5432)");
      } else if (!is_dns_name(hp->host) || hp->host == "localhost") {
        s.listen_host = hp->host;
        s.listen_port = hp->port;
      } else {
        ctx.error(val.mark, "'listen' " + shown(*text) + ": the host must be an IP address "
                            "(or localhost), e.g. 0.0.0.0:5432");
      }
    } else if (e.key == "sni") {
      sni = &e;
    } else if (e.key == "backends") {
      backends = &e;
    } else if (e.key == "balance") {
      if (auto b = read_balance(ctx, val)) s.balance = *b;
    } else if (e.key == "health_check") {
      load_health_check(ctx, val, s.health_check, true);
    } else if (e.key == "proxy_protocol") {
      if (auto p = read_enum<ProxyProtocolOut>(ctx, val, {{"none", ProxyProtocolOut::none},
                                                          {"v1", ProxyProtocolOut::v1},
                                                          {"v2", ProxyProtocolOut::v2}}))
        s.proxy_protocol = *p;
    } else if (e.key == "timeouts") {
      load_stream_timeouts(ctx, val, s);
    }
  }
  if (listen && sni) {
    const Entry* later = to_mark(listen->key_mark).line > to_mark(sni->key_mark).line ? listen : sni;
    ctx.error(later->key_mark, "a stream takes 'listen' (its own listener) or 'sni' (TLS "
                               "passthrough on the TLS listener), not both");
  } else if (!listen && !sni) {
    ctx.error(v.mark, "a stream needs 'listen' (host:port of its own listener) or 'sni' (server "
                      "names passed through on the TLS listener)");
  }
  if (sni) {
    load_sni(ctx, sni->value, s, sni_seen);
    if (!cfg.ssl.enabled)
      ctx.error(sni->key_mark, "'sni' streams are picked on the TLS listener, and ssl is not "
                               "enabled (set ssl.enabled, or use 'listen')");
  }
  if (!listen || sni || s.listen_port == 0) {
    // nothing to check against the other listeners
  } else {
    for (const Taken& t : taken) {
      if (t.port != s.listen_port || !addresses_overlap(t.host, s.listen_host)) continue;
      ctx.error(listen->value.mark, "'listen' port " + std::to_string(s.listen_port) +
                                        " is already " + t.what);
      break;
    }
    taken.push_back({s.listen_host, s.listen_port,
                     "the 'listen' of the stream at line " + std::to_string(s.mark.line)});
  }
  if (!backends) ctx.error(v.mark, "a stream needs 'backends' (a list of {address: host:port})");
  else load_backends(ctx, *backends, 0, "stream", s.backends);
  return s;
}

}  // namespace

void load_streams(Ctx& ctx, const Value& v, const Config& cfg, std::vector<StreamRoute>& out) {
  std::vector<Taken> taken;
  taken.push_back({cfg.server.host, cfg.server.port, "server 'port' on " + cfg.server.host});
  if (cfg.ssl.enabled && cfg.ssl.port)
    taken.push_back({cfg.server.host, *cfg.ssl.port, "ssl 'port' on " + cfg.server.host});
  if (cfg.admin.enabled)
    taken.push_back({cfg.admin.host, cfg.admin.port, "admin 'port' on " + cfg.admin.host});
  std::vector<SniSeen> sni_seen;
  Value list = v;
  list.name = "'streams'";
  for (const Value& item : list_items(ctx, list)) out.push_back(load_stream(ctx, item, cfg, sni_seen, taken));
}

}  // namespace gh::config::detail
