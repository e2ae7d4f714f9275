#include "proxy/sni_passthrough.h"

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "core/log.h"
#include "net/peek.h"
#include "proxy/park.h"
#include "tls/client_hello.h"

namespace gh::proxy {

using namespace gh::net;

namespace {

// An address as ClientInfo holds it (IPv4 as v4-mapped IPv6).
tcp::endpoint endpoint_of(const core::Ip16& ip, uint16_t port) {
  asio::ip::address_v6::bytes_type b;
  std::copy(ip.begin(), ip.end(), b.begin());
  asio::ip::address_v6 a(b);
  if (a.is_v4_mapped()) return {asio::ip::make_address_v4(asio::ip::v4_mapped, a), port};
  return {a, port};
}

}  // namespace

awaitable<SniDecision> peek_sni(WorkerState& ws, Socket& s, int64_t deadline_ms) {
  tls::ClientHello hello;
  // A named std::function: no temporary with a destructor inside the
  // co_await expression (GCC 12).
  const std::function<PeekVerdict(std::string_view)> judge = [&hello](std::string_view in) {
    hello = tls::parse_client_hello(in);
    switch (hello.status) {
      case tls::ClientHelloStatus::complete: return PeekVerdict::complete;
      case tls::ClientHelloStatus::not_tls: return PeekVerdict::invalid;
      case tls::ClientHelloStatus::need_more: break;
    }
    return PeekVerdict::need_more;
  };
  std::string buf;
  const PeekResult r = co_await peek_prefix(s, tls::kMaxClientHelloBytes, deadline_ms, judge, buf);
  SniDecision d;
  switch (r) {
    case PeekResult::complete:
      // ECH: the SNI shown is only the public name; the name the client
      // wants is encrypted for whoever holds the ECH keys (we hold none),
      // so it is never a reason to pass through: terminate.
      if (!hello.ech && !hello.server_name.empty()) {
        d.stream = stream_for_sni(ws.runtime(), hello.server_name);
        if (d.stream) d.verdict = SniVerdict::pass_through;
      }
      break;
    case PeekResult::invalid:
    case PeekResult::limit:   // (not reached: the reader decides within its bound)
      // Not a ClientHello: OpenSSL reads the same bytes and fails the
      // handshake as it does without streams.
      GH_DEBUG("sni peek: not a ClientHello (%s); terminating as usual", hello.error);
      break;
    case PeekResult::timeout:
    case PeekResult::error:
      // Counted as the handshake OpenSSL would have failed (no ClientHello
      // in time, or a reset), like the same connection without streams.
      ws.metrics.tls_handshake_errors.add();
      d.verdict = SniVerdict::close;
      break;
    case PeekResult::eof:
      d.verdict = SniVerdict::close;
      break;
  }
  co_return d;
}

awaitable<void> finish_sni(WorkerState& ws, SniDecision d, Socket s, tcp::endpoint client,
                           tcp::endpoint server, ConnectionSlot slot) {
  error_code ec;
  // The socket's local address only goes into a PROXY header out: a
  // getsockname only for an entry that sends one.
  if (d.verdict == SniVerdict::pass_through && server.port() == 0 &&
      d.stream->conf->proxy_protocol != config::ProxyProtocolOut::none)
    server = s.local_endpoint(ec);
  if (d.verdict != SniVerdict::pass_through || ec) {
    s.close(ec);
    co_return;   // the slot is released here
  }
  co_await stream::serve_stream(ws.streams, std::move(d.stream), std::move(s), client, server,
                                std::move(slot));
}

awaitable<bool> pass_through_by_sni(WorkerState& ws, Socket& s, const ConnectionEnds& ends,
                                    ConnectionSlot& slot, int64_t deadline_ms) {
  SniDecision d = co_await peek_sni(ws, s, deadline_ms);
  if (d.verdict == SniVerdict::terminate) co_return false;
  co_await finish_sni(ws, std::move(d), std::move(s), ends.client, ends.server, std::move(slot));
  co_return true;
}

awaitable<void> serve_parked_hello(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot) {
  const auto& rt = ws.runtime();
  if (!rt) co_return;   // (never: a snapshot is published before the first accept)
  const int64_t deadline = now_ms() + rt->cfg.server.timeouts.client_header.count();
  SniDecision d = co_await peek_sni(ws, s.socket(), deadline);
  if (d.verdict == SniVerdict::terminate) {
    co_await serve_connection(ws, std::move(s), std::move(ci), std::move(slot));
    co_return;
  }
  s.take_ssl().reset();   // never used: free it before a relay that may last hours
  // A PROXY header's destination, kept through the park; else (unspecified)
  // the socket's local address.
  const tcp::endpoint server =
      ci.local_from_header ? endpoint_of(ci.local_ip, ci.local_port) : tcp::endpoint();
  co_await finish_sni(ws, std::move(d), std::move(s.socket()), endpoint_of(ci.ip, ci.port), server,
                      std::move(slot));
}

}  // namespace gh::proxy
