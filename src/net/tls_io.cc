#include "net/tls_io.h"

#include <openssl/err.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>

#include "net/stream.h"

namespace gh::net {

SslHandle new_ssl(SSL_CTX* ctx, TlsRole role) {
  SslHandle ssl(ctx ? SSL_new(ctx) : nullptr);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  // RELEASE_BUFFERS: OpenSSL's read buffer (~17 KiB) exists only while a
  // record is incomplete or not yet fully read, its write buffer only while
  // a record is being sent; an idle connection holds neither.
  // ACCEPT_MOVING_WRITE_BUFFER: a write retried after WANT_WRITE passes the
  // same bytes, not necessarily at the same address.
  SSL_set_mode(ssl.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read as much as has arrived in one syscall rather than each record's
  // header and body apart; what is read beyond one record stays in the read
  // buffer, which Stream::quiet() accounts for.
  SSL_set_read_ahead(ssl.get(), 1);
  if (role == TlsRole::server) SSL_set_accept_state(ssl.get());
  else SSL_set_connect_state(ssl.get());
  return ssl;
}

namespace tls_io {

// Turns a failed SSL call's result into a wait or an error. `sys_errno` is
// errno right after the call.
static size_t failed(SSL* ssl, int ret, int sys_errno, Want& want, error_code& ec) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      want = Want::read;
      return 0;
    case SSL_ERROR_WANT_WRITE:
      want = Want::write;
      return 0;
    case SSL_ERROR_ZERO_RETURN:   // close_notify
      ec = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL: {
      // The socket failed. OpenSSL also queues the errno (as a system
      // library error), which is safer than errno itself after the call.
      unsigned long e = ERR_peek_error();
      if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SYS && ERR_GET_REASON(e) != 0)
        sys_errno = ERR_GET_REASON(e);
      // OpenSSL 3 reports a bare EOF as SSL_ERROR_SSL (below) unless told
      // to ignore it; no errno here is the same thing.
      ec = sys_errno ? error_code(sys_errno, asio::error::get_system_category())
                     : error_code(asio::ssl::error::stream_truncated);
      break;
    }
    default: {
      unsigned long e = ERR_peek_error();
      if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        ec = asio::ssl::error::stream_truncated;   // the peer closed without close_notify
      else if (e != 0)
        ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      else
        ec = asio::error::connection_aborted;
      break;
    }
  }
  // A stale entry left behind would make a later SSL call on this thread
  // look failed.
  ERR_clear_error();
  want = Want::nothing;
  return 0;
}

size_t read_step(SSL* ssl, void* p, size_t n, Want& want, error_code& ec) {
  size_t got = 0;
  ERR_clear_error();
  errno = 0;
  int r = SSL_read_ex(ssl, p, n, &got);
  if (r == 1) return got;
  return failed(ssl, r, errno, want, ec);
}

size_t write_step(SSL* ssl, const void* p, size_t n, Want& want, error_code& ec) {
  size_t put = 0;
  ERR_clear_error();
  errno = 0;
  int r = SSL_write_ex(ssl, p, n, &put);
  if (r == 1) return put;
  return failed(ssl, r, errno, want, ec);
}

size_t handshake_step(SSL* ssl, Want& want, error_code& ec) {
  ERR_clear_error();
  errno = 0;
  int r = SSL_do_handshake(ssl);
  if (r == 1) return 1;
  return failed(ssl, r, errno, want, ec);
}

}  // namespace tls_io

using tls_io::Want;

awaitable<bool> Stream::tls_wait(Want w, uint32_t cancels_at, error_code& ec) {
  if (cancels_ != cancels_at) {
    ec = asio::error::operation_aborted;
    co_return false;
  }
  auto [wec] = co_await sock_.async_wait(w == Want::write ? Socket::wait_write : Socket::wait_read,
                                         nothrow);
  // A wait that had completed when cancel() came still ends the operation,
  // as a cancelled one would.
  if (!wec && cancels_ != cancels_at) wec = asio::error::operation_aborted;
  ec = wec;
  co_return !wec;
}

awaitable<std::tuple<error_code, size_t>> Stream::tls_read_some(asio::mutable_buffer b) {
  if (b.size() == 0) co_return std::tuple(error_code(), size_t(0));
  const uint32_t at = cancels_;
  for (;;) {
    Want w = Want::nothing;
    error_code ec;
    size_t n = tls_io::read_step(ssl_.get(), b.data(), b.size(), w, ec);
    if (n) co_return std::tuple(error_code(), n);
    if (ec || !co_await tls_wait(w, at, ec)) co_return std::tuple(ec, size_t(0));
  }
}

awaitable<std::tuple<error_code, size_t>> Stream::tls_read_some_into(core::Buffer& buf,
                                                                      size_t min_room,
                                                                      size_t reserve) {
  const uint32_t at = cancels_;
  for (;;) {
    if (buf.tail_room() < min_room) buf.reserve_tail(reserve);
    Want w = Want::nothing;
    error_code ec;
    size_t n = tls_io::read_step(ssl_.get(), buf.tail(), buf.tail_room(), w, ec);
    if (n) co_return std::tuple(error_code(), n);
    if (ec) co_return std::tuple(ec, size_t(0));
    buf.shrink_to_fit();
    if (!co_await tls_wait(w, at, ec)) co_return std::tuple(ec, size_t(0));
  }
}

// Writes all of [p, p+n). After WANT_WRITE the retry passes the same bytes,
// as OpenSSL requires (the record already made is sent first).
awaitable<error_code> Stream::tls_write(const char* p, size_t n) {
  const uint32_t at = cancels_;
  while (n) {
    Want w = Want::nothing;
    error_code ec;
    size_t k = tls_io::write_step(ssl_.get(), p, n, w, ec);
    if (k) {
      p += k;
      n -= k;
      continue;
    }
    if (ec || !co_await tls_wait(w, at, ec)) co_return ec;
  }
  co_return error_code();
}

awaitable<error_code> Stream::handshake() {
  if (!ssl_) co_return error_code();
  const uint32_t at = cancels_;
  for (;;) {
    Want w = Want::nothing;
    error_code ec;
    if (tls_io::handshake_step(ssl_.get(), w, ec)) co_return error_code();
    if (ec || !co_await tls_wait(w, at, ec)) co_return ec;
  }
}

}  // namespace gh::net
