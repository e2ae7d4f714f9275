// TLS on a non-blocking socket the way nginx does it: OpenSSL reads and
// writes the socket itself (our BIO), and an operation that cannot go on
// (SSL_ERROR_WANT_READ / WANT_WRITE) waits for the socket's readiness in
// Asio, then is retried. net::Stream uses this for both sides (clients that
// reach us over TLS, and TLS backends).
//
// Why not asio::ssl::stream: it moves every byte through a BIO pair and two
// fixed buffers of its own, about 68 KiB per connection for as long as the
// connection lives (stream_core's two 17 KiB vectors and a BIO pair of two
// 17 KiB rings), on top of OpenSSL's record buffers; and the bytes it has
// read ahead are out of sight of the socket, so such a connection could
// never be parked on the socket's readiness. Here a connection costs the
// SSL object (about 15 KiB after the handshake, see docs/performance.md),
// OpenSSL's record buffers exist only while a record is being read or
// written (SSL_MODE_RELEASE_BUFFERS), and SSL_has_pending() says exactly
// when nothing is buffered, so an idle TLS connection can be parked like a
// plain one (proxy/park.h).
#pragma once

#include <openssl/ssl.h>

#include <cstring>
#include <memory>
#include <tuple>

#include "core/buffer.h"
#include "net/asio.h"

namespace gh::net {

// Frees an SSL as a connection that ended quietly: a TLS connection closed
// without close_notify would otherwise mark its session not resumable (and
// a backend's session is shared with our session cache).
struct SslQuietFree {
  void operator()(SSL* ssl) const noexcept {
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
  }
};
using SslHandle = std::unique_ptr<SSL, SslQuietFree>;

enum class TlsRole { client, server };

// A new connection's SSL from `ctx` (the server's default context, or a
// route's client context), set up for net::Stream: buffers released while
// no record is in flight, one read syscall for as many records as have
// arrived (read-ahead), and the handshake role. Null if OpenSSL refuses.
SslHandle new_ssl(SSL_CTX* ctx, TlsRole role);

namespace tls_io {

enum class Want { nothing, read, write };
struct Probe;   // net/tls_wait.h

// One non-blocking step each. On success returns the byte count (> 0; the
// handshake returns 1 when done). Otherwise returns 0 with `want` saying
// which readiness to wait for, or with `ec` set: eof after the peer's
// close_notify, asio::ssl::error::stream_truncated when the peer closed
// without one, a system error (e.g. connection_reset), or an OpenSSL
// error in asio::error::get_ssl_category() (its message names the reason).
size_t read_step(SSL* ssl, void* p, size_t n, Want& want, error_code& ec);
// `first`: this is the first try of a write of these n bytes (not a retry
// after WANT_WRITE); the records it makes leave together (see tls_io.cc).
size_t write_step(SSL* ssl, const void* p, size_t n, bool first, Want& want, error_code& ec);
size_t handshake_step(SSL* ssl, Want& want, error_code& ec);

// Makes `ssl` read and write the socket `fd` (which must be non-blocking;
// it stays the caller's, never closed here) through our socket BIO.
// False if OpenSSL could not make the BIO.
bool attach_socket(SSL* ssl, int fd);

// True when the last read OpenSSL made on the socket ended its bytes:
// EAGAIN, EOF, an error, or fewer bytes than it asked for.
bool read_drained(SSL* ssl);

}  // namespace tls_io
}  // namespace gh::net
