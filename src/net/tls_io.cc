#include "net/tls_io.h"

#include <openssl/err.h>

#include <boost/asio/ssl/error.hpp>
#include <sys/socket.h>

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

// The connection's BIO: OpenSSL's socket BIO, but ours, for two things.
// It remembers whether the last read drained the socket (read_drained() in
// tls_wait.h) without a BIO callback on every read. And while one SSL_write
// turns a large buffer into several 16 KiB records, each record but the
// last is sent with MSG_MORE, so the kernel sends the records of one write
// in large segments (up to 64 KiB on loopback) rather than a segment per
// record pushed out at once under TCP_NODELAY: a 64 KiB body block leaves
// in one or two segments, not four. Every send of a write's last record,
// and of anything else (handshake flights, alerts, close_notify), goes
// without MSG_MORE, so nothing is ever left waiting in the kernel.
// Behaves as the socket BIO otherwise: EAGAIN and EINTR are retries, 0 is
// EOF (BIO_eof() true after it), other errors return -1 with errno set.
struct SockBio {
  int fd;
  bool drained = true;   // the last read ended the socket's bytes (or failed)
  uint32_t records_left = 0;   // records the current SSL_write still has to send
};

static SockBio* sock_bio(BIO* b) { return static_cast<SockBio*>(BIO_get_data(b)); }

static bool retry_errno(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

static int bio_read(BIO* b, char* out, int len) {
  SockBio* s = sock_bio(b);
  BIO_clear_retry_flags(b);
  ssize_t r = ::recv(s->fd, out, static_cast<size_t>(len), 0);
  s->drained = r < len;
  if (r > 0) return static_cast<int>(r);
  if (r == 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF);
  else if (retry_errno(errno)) BIO_set_retry_read(b);
  return static_cast<int>(r);
}

static int bio_write(BIO* b, const char* in, int len) {
  SockBio* s = sock_bio(b);
  BIO_clear_retry_flags(b);
  const int flags = MSG_NOSIGNAL | (s->records_left > 1 ? MSG_MORE : 0);
  ssize_t r = ::send(s->fd, in, static_cast<size_t>(len), flags);
  // OpenSSL passes a record's unsent rest in one call: all of it sent means
  // the record is out.
  if (r == len && s->records_left) --s->records_left;
  if (r < 0 && retry_errno(errno)) BIO_set_retry_write(b);
  return static_cast<int>(r);
}

static long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;   // nothing is buffered here
    case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    case BIO_C_GET_FD:
      if (ptr) *static_cast<int*>(ptr) = sock_bio(b)->fd;
      return sock_bio(b)->fd;
    default: return 0;   // not a kTLS socket BIO, nothing pending, no close
  }
}

static int bio_destroy(BIO* b) {
  delete sock_bio(b);
  BIO_set_data(b, nullptr);
  return 1;
}

static const BIO_METHOD* sock_bio_method() {
  static const BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                  "gatehouse socket");
    if (bm && (BIO_meth_set_read(bm, bio_read) != 1 || BIO_meth_set_write(bm, bio_write) != 1 ||
               BIO_meth_set_ctrl(bm, bio_ctrl) != 1 || BIO_meth_set_destroy(bm, bio_destroy) != 1)) {
      BIO_meth_free(bm);
      bm = nullptr;
    }
    return bm;
  }();
  return m;
}

bool attach_socket(SSL* ssl, int fd) {
  const BIO_METHOD* m = sock_bio_method();
  BIO* b = m ? BIO_new(m) : nullptr;
  if (!b) {
    ERR_clear_error();
    return false;
  }
  BIO_set_data(b, new SockBio{fd});
  BIO_set_init(b, 1);
  SSL_set_bio(ssl, b, b);   // both directions, one reference (as SSL_set_fd)
  return true;
}

bool read_drained(SSL* ssl) { return sock_bio(SSL_get_rbio(ssl))->drained; }

// Sets how many records a write about to begin will make (see SockBio);
// 0 sends every record on its own.
static void expect_records(SSL* ssl, uint32_t n) {
  if (BIO* b = SSL_get_wbio(ssl)) sock_bio(b)->records_left = n;
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
  expect_records(ssl, 0);   // a read may send (an alert, a KeyUpdate's answer)
  size_t got = 0;
  ERR_clear_error();
  errno = 0;
  int r = SSL_read_ex(ssl, p, n, &got);
  if (r == 1) return got;
  return failed(ssl, r, errno, want, ec);
}

size_t write_step(SSL* ssl, const void* p, size_t n, bool first, Want& want, error_code& ec) {
  // A retry goes on with the count where the last try left it. Before the
  // handshake is done a write may need to read first: no MSG_MORE then.
  constexpr size_t kRecord = 16 * 1024;   // TLS's largest record payload
  if (first)
    expect_records(ssl, SSL_is_init_finished(ssl) ? static_cast<uint32_t>((n + kRecord - 1) / kRecord) : 0);
  size_t put = 0;
  ERR_clear_error();
  errno = 0;
  int r = SSL_write_ex(ssl, p, n, &put);
  if (r == 1) {
    expect_records(ssl, 0);
    return put;
  }
  failed(ssl, r, errno, want, ec);
  if (want != Want::write) expect_records(ssl, 0);   // an error, or it must read first
  return 0;
}

size_t handshake_step(SSL* ssl, Want& want, error_code& ec) {
  expect_records(ssl, 0);
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
