// Backend name resolution without blocking a worker: IP literals are parsed
// once; names go through Asio's resolver (its own thread) and are cached for
// a short time so changed DNS records are picked up while running.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "net/asio.h"

namespace gh::upstream {

class Resolver {
 public:
  explicit Resolver(net::asio::io_context& ctx) : resolver_(ctx) {}

  // Fills `out` with the addresses of host:port. Returns an error when the
  // name does not resolve (or resolves to nothing). Never throws.
  net::awaitable<net::error_code> resolve(const std::string& host, uint16_t port,
                                          std::vector<net::tcp::endpoint>& out);

  // Forgets a name so the next request resolves it again (after connect failures).
  void invalidate(const std::string& host) { cache_.erase(host); }

  static constexpr int64_t ttl_ms = 30000;

 private:
  struct Entry {
    std::vector<net::asio::ip::address> addrs;
    int64_t expires_ms = 0;   // 0: never (IP literal)
  };
  net::tcp::resolver resolver_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace gh::upstream
