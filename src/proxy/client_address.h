// Who the client is, as gatehouse determines it: the peer of the connection,
// or, when the peer is one of server.trusted_proxies, the address that proxy
// names in X-Forwarded-For (nginx's real_ip with real_ip_recursive). One rule
// for X-Real-IP, access lists and every later policy that keys on the client.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/cidr.h"
#include "http/exchange.h"

namespace gh::proxy {

bool is_trusted(const core::Ip16& ip, const std::vector<core::Cidr>& trusted);

// The left-most address of an X-Forwarded-For chain that is not a trusted
// proxy, walking from the right (the nearest hop); junk stops the walk at
// the last good address. `fallback` when the chain is empty.
std::string_view real_client(std::string_view xff, std::string_view fallback,
                             const std::vector<core::Cidr>& trusted);

// The for= nodes of an RFC 7239 Forwarded value as an X-Forwarded-For style
// chain ("192.0.2.60, 2001:db8::1"): quotes, brackets and ports removed; an
// element without for=, or an obfuscated or "unknown" node, stays as a
// token that is not an address, so real_client stops trusting there.
std::string forwarded_for_chain(std::string_view forwarded);

struct ClientAddress {
  core::Ip16 ip{};
  std::string str;
};

// The client for policies: `peer` itself unless it is trusted and the
// request carries X-Forwarded-For (all its fields, in order), or failing
// that Forwarded (RFC 7239 for= nodes).
ClientAddress effective_client(const core::Ip16& peer, std::string_view peer_str,
                               std::span<const http::Field> fields,
                               const std::vector<core::Cidr>& trusted);

}  // namespace gh::proxy
