#include "upstream/resolver.h"

#include "net/deadlines.h"

namespace gh::upstream {

using namespace gh::net;

awaitable<error_code> Resolver::resolve(const std::string& host, uint16_t port,
                                        std::vector<tcp::endpoint>& out) {
  out.clear();
  auto it = cache_.find(host);
  int64_t now = now_ms();
  if (it == cache_.end() || (it->second.expires_ms != 0 && it->second.expires_ms < now)) {
    Entry e;
    error_code ec;
    auto literal = asio::ip::make_address(host, ec);
    if (!ec) {
      e.addrs.push_back(literal);
    } else {
      auto [rec, results] = co_await resolver_.async_resolve(host, "", nothrow);
      if (rec) co_return rec;
      for (const auto& r : results) e.addrs.push_back(r.endpoint().address());
      if (e.addrs.empty()) co_return asio::error::host_not_found;
      e.expires_ms = now_ms() + ttl_ms;
    }
    it = cache_.insert_or_assign(host, std::move(e)).first;
  }
  for (const auto& a : it->second.addrs) out.emplace_back(a, port);
  co_return error_code{};
}

}  // namespace gh::upstream
