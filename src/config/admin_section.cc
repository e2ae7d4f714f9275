#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {

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
  YAML::Mark at = port_mark ? *port_mark : v.mark;
  if (out.port == server.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already server 'port'");
  } else if (ssl.enabled && ssl.port && out.port == *ssl.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already ssl 'port'");
  }
}

}  // namespace gh::config::detail
