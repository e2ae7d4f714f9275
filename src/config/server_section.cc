#include <map>
#include <set>

#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {
namespace {


void load_timeouts(Ctx& ctx, const Value& v, Timeouts& t) {
  for (const Entry& e : map_entries(ctx, v, "server.timeouts", keys::kTimeouts)) {
    // Every wait has a timeout; only the drain may be zero (exit at once).
    Duration min = e.key == "shutdown_drain" ? Duration(0) : kPositive;
    auto d = read_duration(ctx, e.value, min);
    if (!d) continue;
    if (e.key == "client_header") t.client_header = *d;
    else if (e.key == "client_body") t.client_body = *d;
    else if (e.key == "keepalive") t.keepalive = *d;
    else if (e.key == "connect") t.connect = *d;
    else if (e.key == "upstream_response") t.upstream_response = *d;
    else if (e.key == "tunnel_idle") t.tunnel_idle = *d;
    else if (e.key == "shutdown_drain") t.shutdown_drain = *d;
  }
}

void load_limits(Ctx& ctx, const Value& v, Limits& l) {
  for (const Entry& e : map_entries(ctx, v, "server.limits", keys::kLimits)) {
    if (e.key == "max_header_bytes") {
      if (auto n = read_size(ctx, e.value, 1024, 1024 * 1024)) l.max_header_bytes = *n;
    } else if (e.key == "max_body_bytes") {
      if (auto n = read_size(ctx, e.value, 0, UINT64_MAX)) l.max_body_bytes = *n;
    } else if (e.key == "max_connections") {
      if (auto n = read_uint(ctx, e.value, 1, 10'000'000)) l.max_connections = *n;
    } else if (e.key == "request_buffer") {
      // Held in memory per uploading client: 64 MiB is already generous.
      if (auto n = read_size(ctx, e.value, 0, 64 * 1024 * 1024)) l.request_buffer = *n;
    } else if (e.key == "request_body_min_rate") {
      if (auto n = read_size(ctx, e.value, 0, UINT64_MAX)) l.request_body_min_rate = *n;
    } else if (e.key == "h2_max_concurrent_streams") {
      // RFC 9113 allows 0, but a server that takes no stream serves nothing.
      if (auto n = read_uint(ctx, e.value, 1, 100'000)) l.h2_max_concurrent_streams = static_cast<uint32_t>(*n);
    }
  }
}

}  // namespace

void load_server(Ctx& ctx, const Value& v, Server& out) {
  std::optional<YAML::Mark> proxy_protocol_on;   // where proxy_protocol: true was set
  for (const Entry& e : map_entries(ctx, v, "server", keys::kServer)) {
    const Value& val = e.value;
    if (load_policy(ctx, e, out.policies)) continue;
    if (e.key == "host") {
      if (auto s = read_string(ctx, val)) {
        std::string why;
        if (auto h = parse_host(*s, why)) out.host = *h;
        else ctx.error(val.mark, "'host' " + why);
      }
    } else if (e.key == "port") {
      if (auto p = read_port(ctx, val)) out.port = *p;
    } else if (e.key == "http2") {
      if (auto f = read_bool(ctx, val)) out.http2 = *f;
    } else if (e.key == "proxy_protocol") {
      if (auto f = read_bool(ctx, val)) {
        out.proxy_protocol = *f;
        if (*f) proxy_protocol_on = val.mark;
      }
    } else if (e.key == "workers") {
      auto s = read_text(ctx, val, "auto or an integer from 1 to 1024");
      if (!s) continue;
      auto n = parse_decimal(*s);
      if (*s == "auto") {
        out.workers = 0;
      } else if (n && *n >= 1 && *n <= 1024) {
        out.workers = static_cast<unsigned>(*n);
      } else {
        ctx.error(val.mark, "'workers' must be auto or an integer from 1 to 1024, got " + shown(*s));
      }
    } else if (e.key == "trusted_proxies") {
      for (const Value& item : list_items(ctx, val)) {
        auto s = read_string(ctx, item);
        if (!s) continue;
        if (auto c = core::Cidr::parse(*s)) {
          out.trusted_proxies.push_back(*c);
        } else {
          ctx.error(item.mark, item.name + " must be an address or CIDR block like 10.0.0.0/8 "
                                           "or fd00::/8, got " + shown(*s));
        }
      }
    } else if (e.key == "forwarded") {
      if (auto f = read_enum<Forwarded>(ctx, val, {{"x-forwarded", Forwarded::x_forwarded},
                                                  {"rfc7239", Forwarded::rfc7239},
                                                  {"both", Forwarded::both},
                                                  {"none", Forwarded::none}})) {
        out.forwarded = *f;
      }
    } else if (e.key == "traceparent") {
      if (auto m = read_enum<TraceparentMode>(ctx, val, {{"pass", TraceparentMode::pass},
                                                         {"start", TraceparentMode::start}})) {
        out.traceparent = *m;
      }
    } else if (e.key == "timeouts") {
      load_timeouts(ctx, val, out.timeouts);
    } else if (e.key == "limits") {
      load_limits(ctx, val, out.limits);
    } else if (e.key == "access_log") {
      auto s = read_string(ctx, val);
      if (!s) continue;
      if (*s == "stdout" || *s == "stderr" || *s == "off") {
        out.access_log = *s;
        continue;
      }
      // A log file need not exist yet, but its directory must.
      auto path = read_file_path(ctx, val, false);
      if (!path) continue;
      std::error_code ec;
      auto dir = std::filesystem::path(*path).parent_path();
      if (!std::filesystem::is_directory(dir, ec)) {
        ctx.error(val.mark, "'access_log' directory '" + dir.string() + "' does not exist");
        continue;
      }
      out.access_log = *path;
    } else if (e.key == "access_log_format") {
      if (auto f = read_enum<AccessLogFormat>(
              ctx, val, {{"json", AccessLogFormat::json}, {"combined", AccessLogFormat::combined}})) {
        out.access_log_format = *f;
      }
    } else if (e.key == "reverse_proxy") {
      // Same path and same domain set would make the second route unreachable.
      std::map<std::pair<std::string, std::set<std::string>>, Mark> seen;
      for (const Value& item : list_items(ctx, val)) {
        Value route_v = item;
        route_v.name = "a reverse_proxy entry";
        std::optional<YAML::Mark> dup_mark;
        Route r = load_route(ctx, route_v, dup_mark);
        if (!dup_mark) {
          out.reverse_proxy.push_back(std::move(r));
          continue;
        }
        std::set<std::string> domains(r.domains.begin(), r.domains.end());
        auto [it, fresh] = seen.emplace(std::make_pair(r.path, domains), to_mark(*dup_mark));
        if (!fresh) {
          ctx.error(*dup_mark, "duplicate route: path '" + r.path +
                                  "' with the same domains is already defined at line " +
                                  std::to_string(it->second.line));
        }
        out.reverse_proxy.push_back(std::move(r));
      }
    }
  }
  // Only trusted_proxies may send the header and every other peer is
  // refused: with none listed, no connection could ever be served.
  if (proxy_protocol_on && out.trusted_proxies.empty()) {
    ctx.error(*proxy_protocol_on,
              "'proxy_protocol: true' needs server.trusted_proxies (the balancers allowed to send "
              "the PROXY header); with none, every connection would be refused");
  }
}

}  // namespace gh::config::detail
