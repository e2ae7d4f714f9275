#include "net/tls_io.h"

#include <openssl/err.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>

#include "net/stream.h"
#include "net/tls_wait.h"

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

// Remembers in the socket BIO's callback argument whether the last read
// drained the socket (read_drained() in tls_wait.h).
static long watch_reads(BIO* b, int oper, const char*, size_t len, int, long, int ret,
                        size_t* processed) {
  if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
    bool drained = ret <= 0 || (processed != nullptr && *processed < len);
    BIO_set_callback_arg(b, drained ? reinterpret_cast<char*>(1) : nullptr);
  }
  return ret;
}

bool attach_socket(SSL* ssl, int fd) {
  if (SSL_set_fd(ssl, fd) != 1) {
    ERR_clear_error();
    return false;
  }
  BIO_set_callback_ex(SSL_get_rbio(ssl), watch_reads);
  return true;
}

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

using tls_io::Probe;
using tls_io::Want;

// Runs `pr` to its end through the reactor (net/tls_wait.h). `speculate`:
// no step was just made, so one may be tried at once if the reactor thinks
// bytes may be waiting. A cancel() since `cancels_at` ends it with
// operation_aborted, unless a step had already finished (bytes read are
// never dropped).
awaitable<void> Stream::tls_wait(Probe& pr, uint32_t cancels_at, bool speculate) {
  for (;;) {
    if (cancels_ != cancels_at) {
      pr.ec = asio::error::operation_aborted;
      co_return;
    }
    auto [ec] = co_await tls_io::async_ready(sock_, pr, speculate);
    if (pr.finished) co_return;
    if (ec) {
      pr.ec = ec;
      co_return;
    }
    speculate = false;   // OpenSSL wants the other direction now: wait for that
  }
}

awaitable<std::tuple<error_code, size_t>> Stream::tls_read_some(asio::mutable_buffer b) {
  if (b.size() == 0) co_return std::tuple(error_code(), size_t(0));
  const uint32_t at = cancels_;
  Probe pr(ssl_.get(), Probe::Kind::read, static_cast<char*>(b.data()), b.size());
  // Bytes OpenSSL already holds need no syscall and no reactor.
  bool tried = SSL_has_pending(ssl_.get()) != 0;
  if (!tried || !pr.step()) co_await tls_wait(pr, at, !tried);
  co_return std::tuple(pr.ec, pr.result);
}

awaitable<std::tuple<error_code, size_t>> Stream::tls_read_some_into(core::Buffer& buf,
                                                                      size_t min_room,
                                                                      size_t reserve) {
  const uint32_t at = cancels_;
  Probe pr(ssl_.get(), Probe::Kind::read_into);
  pr.into = &buf;
  pr.min_room = min_room;
  pr.reserve = reserve;
  bool tried = SSL_has_pending(ssl_.get()) != 0;
  if (!tried || !pr.step()) co_await tls_wait(pr, at, !tried);
  co_return std::tuple(pr.ec, pr.result);
}

// Writes all of [p, p+n). After WANT_WRITE the retry passes the same bytes,
// as OpenSSL requires (the record already made is sent first). Writes are
// tried at once: the socket's send buffer mostly has room.
awaitable<error_code> Stream::tls_write(const char* p, size_t n) {
  const uint32_t at = cancels_;
  while (n) {
    Probe pr(ssl_.get(), Probe::Kind::write, const_cast<char*>(p), n);
    if (!pr.step()) co_await tls_wait(pr, at, false);
    if (pr.ec) co_return pr.ec;
    p += pr.result;
    n -= pr.result;
  }
  co_return error_code();
}

awaitable<error_code> Stream::handshake() {
  if (!ssl_) co_return error_code();
  const uint32_t at = cancels_;
  Probe pr(ssl_.get(), Probe::Kind::handshake);
  co_await tls_wait(pr, at, true);
  co_return pr.ec;
}

}  // namespace gh::net
