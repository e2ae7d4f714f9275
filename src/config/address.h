// Host names, IP literals, "host:port" backend addresses and domain patterns
// as the config file writes them. Pure text checks: nothing is resolved here
// (names are resolved at run time, see CONTRACT.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::config {

// Accepts an IPv4 literal, an IPv6 literal with or without brackets, or a DNS
// name (labels of letters, digits, '-' and '_', 1..63 bytes each, 253 in all,
// one optional trailing dot). Refuses empty text, spaces, ports, schemes, and
// names whose last label is all digits unless they are a valid IPv4 address
// ("1.2.3", "010.0.0.1"). Returns the host with IPv6 brackets removed;
// otherwise sets `why`.
std::optional<std::string> parse_host(std::string_view text, std::string& why);

// True for a DNS name as parse_host accepts it, IP literals excluded.
bool is_dns_name(std::string_view text);

struct HostPort {
  std::string host;   // IPv6 without brackets
  uint16_t port = 0;
};

// Accepts "host:port", "[v6]:port", "host" and "[v6]"; without a port,
// `default_port` is used. Port is 1..65535 in decimal. Refuses schemes
// ("http://"), paths, empty parts, IPv6 without brackets ("::1:80" could be
// either an address or an address and a port), and anything parse_host
// refuses; sets `why`.
std::optional<HostPort> parse_address(std::string_view text, uint16_t default_port,
                                      std::string& why);

// Accepts an exact host name ("api.example.com") or a wildcard "*.suffix"
// matching any name that ends in ".suffix"; returns it lower-cased without a
// trailing dot. Refuses '*' anywhere else, IPv6 literals, ports, and what
// is_dns_name refuses; sets `why`.
std::optional<std::string> parse_domain(std::string_view text, std::string& why);

// Whether listeners on hosts `a` and `b` (as parse_host returns them) with
// the same port would collide: the same address, or a wildcard of the
// family (listeners bind IPv6 only for IPv6 addresses). "localhost" is
// 127.0.0.1 to the listener; other names collide when equal.
bool addresses_overlap(const std::string& a, const std::string& b);

}  // namespace gh::config
