// The http-01 challenges in progress (RFC 8555 8.3): token -> key
// authorization. The ACME manager's thread adds and removes; the plain
// listener's workers look up GET /.well-known/acme-challenge/<token> before
// any routing, redirect or policy (proxy/session.cc). A request for a token
// not on the board falls through to normal routing, so an application's own
// /.well-known keeps working.
#pragma once

#include <atomic>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gh::acme {

inline constexpr std::string_view kHttp01Prefix = "/.well-known/acme-challenge/";

class Http01Board {
 public:
  // The process's board.
  static Http01Board& process();

  // Serves `key_authorization` for `token` until remove(token).
  void add(const std::string& token, const std::string& key_authorization);
  void remove(const std::string& token);

  // The key authorization for a request path "/.well-known/acme-challenge/TOKEN"
  // (query ignored), or nullopt: another path, an unknown token, or nothing
  // pending. Costs one relaxed atomic load when nothing is pending, so every
  // request on the plain listener may ask.
  std::optional<std::string> answer(std::string_view path) const;

 private:
  std::atomic<size_t> pending_{0};
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> tokens_;
};

}  // namespace gh::acme
