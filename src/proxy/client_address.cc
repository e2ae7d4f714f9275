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

std::string forwarded_for_chain(std::string_view forwarded) {
  std::string chain;
  while (!forwarded.empty()) {
    size_t comma = forwarded.find(',');
    std::string_view element = forwarded.substr(0, comma);
    forwarded = comma == std::string_view::npos ? std::string_view() : forwarded.substr(comma + 1);
    std::string_view node = "unknown";   // an element without for= breaks the chain
    while (!element.empty()) {
      size_t semi = element.find(';');
      std::string_view pair = element.substr(0, semi);
      element = semi == std::string_view::npos ? std::string_view() : element.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
      if (pair.size() < 4 || !http::iequals(pair.substr(0, 4), "for=")) continue;
      node = pair.substr(4);
      if (node.size() >= 2 && node.front() == '"' && node.back() == '"') node = node.substr(1, node.size() - 2);
      if (!node.empty() && node.front() == '[') {
        size_t close = node.find(']');
        node = close == std::string_view::npos ? std::string_view("unknown") : node.substr(1, close - 1);
      } else if (node.find(':') != node.rfind(':')) {
        // a bare IPv6 literal is not valid here (RFC 7239 6): leave it to fail parsing
      } else if (size_t colon = node.find(':'); colon != std::string_view::npos) {
        node = node.substr(0, colon);   // "192.0.2.60:8080"
      }
    }
    if (!chain.empty()) chain += ", ";
    chain += node;
  }
  return chain;
}

ClientAddress effective_client(const core::Ip16& peer, std::string_view peer_str,
                               std::span<const http::Field> fields,
                               const std::vector<core::Cidr>& trusted) {
  ClientAddress out{peer, std::string(peer_str)};
  if (trusted.empty() || !is_trusted(peer, trusted)) return out;
  std::string chain, forwarded;
  for (const auto& f : fields) {
    if (f.name.size() == 15 && http::iequals(f.name, "x-forwarded-for")) {
      if (!chain.empty()) chain += ", ";
      chain += f.value;
    } else if (f.name.size() == 9 && http::iequals(f.name, "forwarded")) {
      if (!forwarded.empty()) forwarded += ", ";
      forwarded += f.value;
    }
  }
  // X-Forwarded-For first (what most proxies in front send), else RFC 7239.
  if (chain.empty() && !forwarded.empty()) chain = forwarded_for_chain(forwarded);
  if (chain.empty()) return out;
  std::string_view who = real_client(chain, peer_str, trusted);
  if (auto ip = core::parse_ip(who)) {
    out.ip = *ip;
    out.str = std::string(who);
  }
  return out;
}

}  // namespace gh::proxy
