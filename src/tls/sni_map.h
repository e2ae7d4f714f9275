// Server name -> certificate index, for picking the certificate a TLS client
// asked for by SNI. Built once per ServerContext, read-only afterwards, so
// lookups from several worker threads need no lock.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gh::tls {

class SniMap {
 public:
  // Adds a certificate name: an exact DNS name ("www.example.com") or a
  // wildcard whose "*" is the whole leftmost label ("*.example.com"). Case
  // is ignored. When several certificates claim a name the first added keeps
  // it. Refuses (false, nothing added) empty names and wildcards of another
  // shape ("w*.example.com", "*", "*.").
  bool add(std::string_view name, size_t index);

  // The certificate for `server_name` as sent in SNI: an exact name first,
  // then a wildcard covering exactly one label ("*.example.com" covers
  // "a.example.com", not "a.b.example.com" nor "example.com"). Case and one
  // trailing dot are ignored. nullopt: no certificate claims the name.
  std::optional<size_t> find(std::string_view server_name) const;

  bool empty() const { return exact_.empty() && wildcard_.empty(); }

 private:
  std::unordered_map<std::string, size_t> exact_;
  std::unordered_map<std::string, size_t> wildcard_;  // key: the part after "*."
};

}  // namespace gh::tls
