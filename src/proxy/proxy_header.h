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

// How take_proxy_header() ended. Anything but `ok`: close the socket.
enum class ProxyHeaderOutcome {
  ok,           // off, or a valid header was read
  untrusted,    // the peer is not in trusted_proxies: nothing was read
  invalid,      // the bytes are not a valid header (or over kMaxHeader)
  incomplete,   // no complete header by the deadline, or EOF/reset before one
};

// With `cfg.proxy_protocol` off: ok at once, `ends` untouched. On: the peer
// (`ends.client`) must be in cfg.trusted_proxies (else untrusted, and not a
// byte is read) and send a valid header by `deadline_ms` (now_ms() clock;
// timeouts.client_header): peeked, then exactly its bytes read off `s`, so
// what follows stays for TLS or HTTP. Unless it was v2 LOCAL or v1 UNKNOWN
// (the balancer's own connection) `ends` then holds its source and
// destination. Refusals are logged at debug, plus a warning at most every
// 10 s per process (with how many were refused meanwhile), so no peer can
// flood the log.
net::awaitable<ProxyHeaderOutcome> take_proxy_header(const config::Server& cfg, net::Socket& s,
                                                     int64_t deadline_ms, ConnectionEnds& ends);

}  // namespace gh::proxy
