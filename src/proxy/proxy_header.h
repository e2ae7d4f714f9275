// server.proxy_protocol on the HTTP and HTTPS listeners: a connection from
// one of trusted_proxies must begin with a PROXY v1/v2 header (HAProxy's
// proxy-protocol.txt), which says who the client is; any other peer is
// refused before a byte of it is read. The step runs on the bare socket
// before TLS or HTTP, so what follows the header stays for them.
#pragma once

#include "config/config.h"
#include "net/asio.h"

namespace gh::proxy {

// The two ends of a client's connection as gatehouse should see them.
struct ConnectionEnds {
  // The client: the socket's peer, or the PROXY header's source.
  net::tcp::endpoint client;
  // Where the client connected to: the header's destination; left as is
  // (default: unspecified, port 0) without one, when the socket's
  // local_endpoint() is the answer. A TLS passthrough stream sends both on
  // in its own PROXY header.
  net::tcp::endpoint server;
};

// With `cfg.proxy_protocol` off: true at once, `ends` untouched. On: false
// (the caller closes the socket without a byte more) when `ends.client` is
// not in cfg.trusted_proxies, or when a valid header does not arrive by
// `deadline_ms` (now_ms() clock; timeouts.client_header) — missing,
// malformed, over kMaxHeader, EOF. True when one did: exactly its bytes
// were read off `s`, and unless it was v2 LOCAL or v1 UNKNOWN (the
// balancer's own connection) `ends` now holds its source and destination.
// Refusals are logged at debug, plus a warning at most every 10 s per
// process (how many were refused meanwhile), so no peer can flood the log.
net::awaitable<bool> take_proxy_header(const config::Server& cfg, net::Socket& s, int64_t deadline_ms,
                                       ConnectionEnds& ends);

}  // namespace gh::proxy
