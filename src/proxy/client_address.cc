#include "proxy/client_address.h"

namespace gh::proxy {

bool is_trusted(const core::Ip16& ip, const std::vector<core::Cidr>& trusted) {
  for (const auto& t : trusted)
    if (t.contains(ip)) return true;
  return false;
}

std::string_view real_client(std::string_view xff, std::string_view fallback,
                             const std::vector<core::Cidr>& trusted) {
  std::string_view last = fallback;
  while (!xff.empty()) {
    size_t c = xff.rfind(',');
    std::string_view item = c == std::string_view::npos ? xff : xff.substr(c + 1);
    xff = c == std::string_view::npos ? std::string_view() : xff.substr(0, c);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    auto ip = core::parse_ip(item);
    if (!ip) return last;   // junk: stop trusting the chain here
    last = item;
    if (!is_trusted(*ip, trusted)) return item;
  }
  return last;
}

ClientAddress effective_client(const core::Ip16& peer, std::string_view peer_str,
                               std::span<const http::Field> fields,
                               const std::vector<core::Cidr>& trusted) {
  ClientAddress out{peer, std::string(peer_str)};
  if (trusted.empty() || !is_trusted(peer, trusted)) return out;
  std::string chain;
  for (const auto& f : fields) {
    if (f.name.size() != 15 || !http::iequals(f.name, "x-forwarded-for")) continue;
    if (!chain.empty()) chain += ", ";
    chain += f.value;
  }
  if (chain.empty()) return out;
  std::string_view who = real_client(chain, peer_str, trusted);
  if (auto ip = core::parse_ip(who)) {
    out.ip = *ip;
    out.str = std::string(who);
  }
  return out;
}

}  // namespace gh::proxy
