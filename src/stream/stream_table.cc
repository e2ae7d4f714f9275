#include "stream/stream_proxy.h"

namespace gh::stream {

const StreamRuntime* StreamTable::by_listener(std::string_view host, uint16_t port) const {
  for (const auto& e : entries)
    if (e.conf->listen_port == port && e.conf->listen_host == host) return &e;
  return nullptr;
}

const StreamRuntime* StreamTable::by_sni(std::string_view name) const {
  if (sni_count_ == 0 || name.empty()) return nullptr;
  if (auto it = exact_.find(std::string(name)); it != exact_.end()) return it->second;
  // "*.example.com" covers one label more than "example.com", never the
  // bare name (RFC 6125 6.4.3 as browsers apply it).
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= name.size()) return nullptr;
  if (auto it = wildcard_.find(std::string(name.substr(dot + 1))); it != wildcard_.end())
    return it->second;
  return nullptr;
}

void StreamTable::index() {
  exact_.clear();
  wildcard_.clear();
  sni_count_ = 0;
  for (const auto& e : entries) {
    for (const auto& n : e.conf->sni) {
      ++sni_count_;
      if (n.size() > 2 && n[0] == '*' && n[1] == '.') wildcard_.emplace(n.substr(2), &e);
      else exact_.emplace(n, &e);
    }
  }
}

}  // namespace gh::stream
