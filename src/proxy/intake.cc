#include "proxy/intake.h"

namespace gh::proxy {

static bool plausible_request_id(std::string_view v) {
  if (v.empty() || v.size() > 200) return false;
  for (unsigned char c : v)
    if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' ||
          c == '='))
      return false;
  return true;
}

void pick_request_id(std::span<const http::Field> fields, WorkerState& ws, std::string& out) {
  out.clear();
  for (const auto& h : fields)
    if (h.name.size() == 12 && http::iequals(h.name, "x-request-id") && plausible_request_id(h.value))
      out.assign(h.value);
  if (!out.empty()) return;
  static const char hex[] = "0123456789abcdef";
  uint64_t a = ws.rng(), b = ws.rng();
  out.resize(32);
  for (int i = 0; i < 16; ++i) {
    out[i] = hex[(a >> (i * 4)) & 15];
    out[16 + i] = hex[(b >> (i * 4)) & 15];
  }
}

unsigned via_hops(std::span<const http::Field> fields) {
  unsigned hops = 0;
  for (const auto& h : fields) {
    if (h.name.size() != 3 || !http::iequals(h.name, "via")) continue;
    for (size_t at = h.value.find("gatehouse"); at != std::string_view::npos;
         at = h.value.find("gatehouse", at + 9))
      ++hops;
  }
  return hops;
}

std::string https_location(const config::Config& cfg, std::string_view authority,
                           std::string_view path, bool asterisk) {
  std::string loc = "https://";
  std::string_view host = authority;
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos)
    host = host.substr(0, colon);
  loc += host;
  uint16_t tls_port = cfg.ssl.port ? *cfg.ssl.port : cfg.server.port;
  if (!cfg.ssl.enabled) tls_port = 443;
  if (tls_port != 443) loc += ":" + std::to_string(tls_port);
  loc += asterisk ? std::string_view("/") : path;
  return loc;
}

}  // namespace gh::proxy
