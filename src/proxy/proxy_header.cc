#include "proxy/proxy_header.h"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "core/log.h"
#include "net/deadlines.h"
#include "net/peek.h"
#include "net/proxy_protocol.h"
#include "proxy/client_address.h"

namespace gh::proxy {

using namespace gh::net;
namespace pp = net::proxy_protocol;

namespace {

core::Ip16 ip16(const asio::ip::address& a) {
  core::Ip16 ip{};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    ip[10] = ip[11] = 0xff;
    std::copy(b.begin(), b.end(), ip.begin() + 12);
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.begin());
  }
  return ip;
}

// A refused connection: debug always; a warning at most every kWarnEveryMs
// across workers, carrying how many were refused since the last one.
constexpr int64_t kWarnEveryMs = 10'000;
std::atomic<int64_t> g_last_warn_ms{-kWarnEveryMs};
std::atomic<uint64_t> g_refused_since{0};

void refused(const tcp::endpoint& peer, const char* why, const std::string& detail) {
  const std::string who = peer.address().to_string();
  GH_DEBUG("proxy_protocol: connection from %s refused: %s%s%s", who.c_str(), why,
           detail.empty() ? "" : ": ", detail.c_str());
  g_refused_since.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = now_ms();
  int64_t last = g_last_warn_ms.load(std::memory_order_relaxed);
  if (now - last < kWarnEveryMs || !g_last_warn_ms.compare_exchange_strong(last, now)) return;
  const uint64_t n = g_refused_since.exchange(0, std::memory_order_relaxed);
  GH_WARN("proxy_protocol: connection from %s refused: %s%s%s (%llu refused since the last "
          "such warning, at most one every %llds; each at debug level)",
          who.c_str(), why, detail.empty() ? "" : ": ", detail.c_str(), (unsigned long long)n,
          (long long)(kWarnEveryMs / 1000));
}

// Reads exactly `n` bytes that a peek has shown are there.
bool consume(Socket& s, size_t n) {
  char scratch[pp::kMaxHeader];
  while (n > 0) {
    ssize_t r = ::recv(s.native_handle(), scratch, n, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    n -= size_t(r);
  }
  return true;
}

}  // namespace

awaitable<ProxyHeaderOutcome> take_proxy_header(const config::Server& cfg, Socket& s,
                                                int64_t deadline_ms, ConnectionEnds& ends) {
  if (!cfg.proxy_protocol) co_return ProxyHeaderOutcome::ok;
  // The trust rule is client_address.h's, applied to the socket's peer.
  if (!is_trusted(ip16(ends.client.address()), cfg.trusted_proxies)) {
    refused(ends.client, "not in server.trusted_proxies", "");
    co_return ProxyHeaderOutcome::untrusted;
  }
  std::string buf;
  pp::ParseResult header;
  const std::function<PeekVerdict(std::string_view)> judge = [&header](std::string_view in) {
    header = pp::parse(in);
    switch (header.status) {
      case pp::Status::complete: return PeekVerdict::complete;
      case pp::Status::invalid: return PeekVerdict::invalid;
      case pp::Status::need_more: break;
    }
    return PeekVerdict::need_more;
  };
  const PeekResult r = co_await peek_prefix(s, pp::kMaxHeader, deadline_ms, judge, buf);
  if (r != PeekResult::complete) {
    std::string detail = r == PeekResult::invalid ? header.error : std::string(to_string(r));
    if (r != PeekResult::invalid) detail += " after " + std::to_string(buf.size()) + " bytes";
    refused(ends.client, "no valid PROXY header", detail);
    const bool bad = r == PeekResult::invalid || r == PeekResult::limit;
    co_return bad ? ProxyHeaderOutcome::invalid : ProxyHeaderOutcome::incomplete;
  }
  if (!consume(s, header.length)) {
    refused(ends.client, "no valid PROXY header", "reading it failed");
    co_return ProxyHeaderOutcome::incomplete;
  }
  if (!header.addresses.local) {
    ends.client = header.addresses.source;
    ends.server = header.addresses.destination;
  }
  co_return ProxyHeaderOutcome::ok;
}

}  // namespace gh::proxy
