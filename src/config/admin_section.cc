#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"
#include "core/cidr.h"

namespace gh::config::detail {
namespace {

// Whether listeners on `a` and `b` (same port) would collide: the same
// address, or a wildcard of the family (listeners bind IPv6 only for IPv6
// addresses). "localhost" is 127.0.0.1 to the listener; other names (which
// the listener refuses anyway) collide when equal.
bool addresses_overlap(const std::string& a, const std::string& b) {
  auto ip = [](const std::string& h) { return core::parse_ip(h == "localhost" ? "127.0.0.1" : h); };
  auto x = ip(a), y = ip(b);
  if (!x || !y) return a == b;
  if (*x == *y) return true;
  const bool v4x = core::is_v4_mapped(*x), v4y = core::is_v4_mapped(*y);
  if (v4x != v4y) return false;
  static const core::Ip16 any6{};
  static const core::Ip16 any4 = *core::parse_ip("0.0.0.0");
  const core::Ip16& any = v4x ? any4 : any6;
  return *x == any || *y == any;
}

}  // namespace

void load_admin(Ctx& ctx, const Value& v, const Server& server, const Ssl& ssl, Admin& out) {
  std::optional<YAML::Mark> port_mark;
  for (const Entry& e : map_entries(ctx, v, "admin", keys::kAdmin)) {
    const Value& val = e.value;
    if (e.key == "enabled") {
      if (auto f = read_bool(ctx, val)) out.enabled = *f;
    } else if (e.key == "host") {
      auto s = read_string(ctx, val);
      if (!s) continue;
      std::string why;
      if (auto h = parse_host(*s, why)) out.host = *h;
      else ctx.error(val.mark, "admin 'host' " + shown(*s) + ": " + why);
    } else if (e.key == "port") {
      if (auto p = read_port(ctx, val)) {
        out.port = *p;
        port_mark = val.mark;
      }
    }
  }
  if (!out.enabled) return;
  // Two listeners on one address and port cannot both work; on one port but
  // different addresses (admin on 127.0.0.1, the proxy on a public one) they do.
  YAML::Mark at = port_mark ? *port_mark : v.mark;
  if (!addresses_overlap(out.host, server.host)) return;
  if (out.port == server.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already server 'port' on " +
                      server.host);
  } else if (ssl.enabled && ssl.port && out.port == *ssl.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already ssl 'port' on " +
                      server.host);
  }
}

}  // namespace gh::config::detail
