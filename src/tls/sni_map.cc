#include "tls/sni_map.h"

namespace gh::tls {
namespace {

// Lower-case copy without one trailing dot ("Example.COM." -> "example.com").
std::string normalize(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

bool SniMap::add(std::string_view name, size_t index) {
  std::string n = normalize(name);
  if (n.empty()) return false;
  if (n.find('*') == std::string::npos) {
    exact_.emplace(std::move(n), index);  // emplace: the first certificate keeps the name
    return true;
  }
  // Only "*.rest" with a non-empty rest free of further stars.
  if (n.size() < 3 || n[0] != '*' || n[1] != '.' || n.find('*', 1) != std::string::npos) {
    return false;
  }
  wildcard_.emplace(n.substr(2), index);
  return true;
}

std::optional<size_t> SniMap::find(std::string_view server_name) const {
  std::string n = normalize(server_name);
  if (n.empty()) return std::nullopt;
  if (auto it = exact_.find(n); it != exact_.end()) return it->second;
  size_t dot = n.find('.');
  // The label the star stands for must be non-empty, and something must follow it.
  if (dot == std::string::npos || dot == 0 || dot + 1 >= n.size()) return std::nullopt;
  if (auto it = wildcard_.find(n.substr(dot + 1)); it != wildcard_.end()) return it->second;
  return std::nullopt;
}

}  // namespace gh::tls
