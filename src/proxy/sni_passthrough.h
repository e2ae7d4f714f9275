// TLS passthrough by SNI (`streams` entries with `sni`, CONTRACT "L4
// streams"): before a new connection on the TLS listener is terminated, its
// ClientHello is peeked at (nothing consumed); when it names a listed server
// the socket goes, untouched, to that stream's relay, so the TLS ends at the
// backend. Everything else is terminated exactly as without streams: the
// bytes are still in the socket for OpenSSL.
//
// Only a snapshot with at least one `sni` stream peeks (has_sni_streams()),
// so a config without them costs nothing, not even a syscall. Callers: the
// TLS branch of Proxy::serve (a new connection, peeked at once) and the
// wake-up of a new TLS connection that waited parked for its first bytes
// (proxy/park.cc, many connections).
#pragma once

#include <cstdint>
#include <memory>

#include "net/asio.h"
#include "net/server.h"
#include "net/stream.h"
#include "proxy/downstream.h"
#include "proxy/proxy_header.h"
#include "proxy/runtime.h"
#include "proxy/worker_state.h"

namespace gh::proxy {

// True when `rt` has a `sni` stream, i.e. new TLS connections are peeked.
inline bool has_sni_streams(const Runtime* rt) { return rt && rt->streams.has_sni(); }

// What the ClientHello peek decided.
enum class SniVerdict {
  terminate,      // no SNI, another SNI, ECH, or not a ClientHello: terminate as usual
  pass_through,   // a listed SNI: `stream` is the entry
  close,          // the client closed, the socket failed, or no whole ClientHello
                  // came before the deadline (as the handshake would have timed out)
};
struct SniDecision {
  SniVerdict verdict = SniVerdict::terminate;
  std::shared_ptr<const stream::StreamRuntime> stream;   // pass_through: keeps its snapshot alive
};

// Peeks at the ClientHello on `s` (net::peek_prefix with
// tls::parse_client_hello, at most tls::kMaxClientHelloBytes) until it is
// complete or refused, or until `deadline_ms` (now_ms() clock; callers give
// now + timeouts.client_header). A ClientHello already in the socket costs
// one recv(MSG_PEEK) and no timer. Nothing is read off the socket. The SNI
// is looked up in the snapshot current when the ClientHello is complete.
net::awaitable<SniDecision> peek_sni(WorkerState& ws, net::Socket& s, int64_t deadline_ms);

// Carries out a decision other than terminate: close, or serve the
// connection to its end as the stream (serve_stream). `client` is the client
// as the proxy sees it (the socket's peer, or a PROXY header's source);
// `server` where it connected to (a PROXY header's destination; unspecified:
// the socket's local address). Both go into the entry's PROXY header out.
net::awaitable<void> finish_sni(WorkerState& ws, SniDecision d, net::Socket s, net::tcp::endpoint client,
                                net::tcp::endpoint server, net::ConnectionSlot slot);

// Both for a new TLS connection: returns true when the connection is done
// here (passed through or closed; `s` and `slot` were taken), false when the
// caller terminates TLS as usual (`s` and `slot` untouched, every byte still
// in the socket). `ends`: as server.proxy_protocol left them (proxy_header.h).
net::awaitable<bool> pass_through_by_sni(WorkerState& ws, net::Socket& s, const ConnectionEnds& ends,
                                         net::ConnectionSlot& slot, int64_t deadline_ms);

// A new TLS connection that waited parked (or in the IdleSet) for its
// first bytes, its SSL made but unused, with `sni` streams configured:
// peek_sni() from now (+ timeouts.client_header), then either the stream
// (the SSL freed first; the client from `ci`, which holds a PROXY header's
// source if one came; the server address from the socket) or
// serve_connection() as usual.
net::awaitable<void> serve_parked_hello(WorkerState& ws, net::Stream s, ClientInfo ci,
                                        net::ConnectionSlot slot);

}  // namespace gh::proxy
