#include "config/address.h"

#include "core/ascii.h"
#include "core/cidr.h"

namespace gh::config {
namespace {

using core::is_digit;
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Labels of a DNS name; `why` says what is wrong. Does not check numeric names.
bool dns_shape(std::string_view s, std::string& why) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty()) {
    why = "empty host name";
    return false;
  }
  if (s.size() > 253) {
    why = "host name longer than 253 characters";
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty()) {
      why = "empty label in host name";
      return false;
    }
    if (label.size() > 63) {
      why = "host name label longer than 63 characters";
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-' && c != '_') {
        why = std::string("character '") + (static_cast<unsigned char>(c) < 0x20 ? '?' : c) +
              "' is not allowed in a host name";
        return false;
      }
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::string_view last_label(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  size_t dot = s.rfind('.');
  return dot == std::string_view::npos ? s : s.substr(dot + 1);
}

bool parse_port(std::string_view s, uint16_t& out) {
  if (!all_digits(s) || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v < 1 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

bool is_dns_name(std::string_view text) {
  std::string why;
  return dns_shape(text, why) && !all_digits(last_label(text));
}

std::optional<std::string> parse_host(std::string_view text, std::string& why) {
  if (text.empty()) {
    why = "empty host";
    return std::nullopt;
  }
  if (text.find("://") != std::string_view::npos) {
    why = "a host has no scheme; write just the name or address";
    return std::nullopt;
  }
  if (text.front() == '[') {
    std::string_view inner = text.size() >= 2 ? text.substr(1, text.size() - 2) : std::string_view();
    if (text.back() != ']' || inner.find(':') == std::string_view::npos || !core::parse_ip(inner)) {
      why = "not a valid bracketed IPv6 address";
      return std::nullopt;
    }
    return std::string(text.substr(1, text.size() - 2));
  }
  if (text.find(':') != std::string_view::npos) {
    if (core::parse_ip(text)) return std::string(text);
    why = "not a valid IPv6 address, and a host name cannot contain ':' (put the port elsewhere)";
    return std::nullopt;
  }
  if (all_digits(last_label(text))) {
    std::string_view t = text;
    if (t.back() == '.') t.remove_suffix(1);
    if (core::parse_ip(t)) return std::string(t);
    why = "not a valid IPv4 address (four numbers 0-255 without leading zeros)";
    return std::nullopt;
  }
  if (!dns_shape(text, why)) return std::nullopt;
  return std::string(text);
}

std::optional<HostPort> parse_address(std::string_view text, uint16_t default_port,
                                      std::string& why) {
  if (text.find("://") != std::string_view::npos) {
    why = "write host:port without a scheme";
    return std::nullopt;
  }
  if (text.find('/') != std::string_view::npos) {
    why = "write host:port without a path";
    return std::nullopt;
  }
  HostPort out;
  out.port = default_port;
  std::string_view host = text;
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "missing ']' after the IPv6 address";
      return std::nullopt;
    }
    host = text.substr(0, close + 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        why = "expected ':port' after ']'";
        return std::nullopt;
      }
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    size_t first = text.find(':');
    size_t last = text.rfind(':');
    if (first != std::string_view::npos && first == last) {
      host = text.substr(0, first);
      port = text.substr(first + 1);
      has_port = true;
    } else if (first != std::string_view::npos) {
      why = "an IPv6 address needs brackets, like [::1] or [::1]:8080";
      return std::nullopt;
    }
  }
  if (has_port && !parse_port(port, out.port)) {
    why = "the port must be a number from 1 to 65535";
    return std::nullopt;
  }
  auto h = parse_host(host, why);
  if (!h) return std::nullopt;
  out.host = std::move(*h);
  return out;
}

std::optional<std::string> parse_domain(std::string_view text, std::string& why) {
  std::string s;
  for (char c : text) s += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  std::string_view body = s;
  bool wildcard = body.starts_with("*.");
  if (wildcard) body.remove_prefix(2);
  if (body.find('*') != std::string_view::npos || s == "*") {
    why = "'*' is only allowed as a whole first label, like *.example.com "
          "(leave out 'domains' to match any host)";
    return std::nullopt;
  }
  if (body.find(':') != std::string_view::npos) {
    why = "a domain has no port or IPv6 literal";
    return std::nullopt;
  }
  if (all_digits(last_label(body))) {
    std::string_view t = body;
    if (!t.empty() && t.back() == '.') t.remove_suffix(1);
    if (wildcard || !core::parse_ip(t)) {
      why = "not a host name or IPv4 address";
      return std::nullopt;
    }
  } else if (!dns_shape(body, why)) {
    return std::nullopt;
  }
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

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

}  // namespace gh::config
