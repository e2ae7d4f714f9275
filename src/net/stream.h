// A byte stream to a peer: plain TCP or TLS over TCP. Everything that moves
// bytes (the HTTP session, the upstream pool, tunnels) uses this, so TLS on
// either side plugs in without the protocol code knowing.
//
// TLS is our own (net/tls_io.h): OpenSSL reads and writes the non-blocking
// socket itself and operations wait for readiness in Asio. A TLS Stream is
// the socket plus the SSL, nothing else, and it tells when OpenSSL holds no
// bytes the socket no longer shows (quiet()), which is when an idle
// connection may be parked on the socket's readiness like a plain one.
#pragma once

#include <algorithm>
#include <memory>
#include <tuple>

#include "net/asio.h"
#include "net/tls_io.h"

namespace gh::net {

class Stream {
 public:
  explicit Stream(Socket s) : sock_(std::move(s)) {}
  // TLS on `s` with `ssl` (from new_ssl(); the socket is attached here).
  // On failure (OpenSSL refused the descriptor) the Stream stays plain
  // and start_tls() returns false.
  Stream(Socket s, SslHandle ssl) : sock_(std::move(s)) { start_tls(std::move(ssl)); }
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  // Turns a connected plain stream into TLS with `ssl` (a backend after its
  // TCP connect). The handshake is still to be done. False: not started.
  bool start_tls(SslHandle ssl) {
    if (!ssl || !tls_io::attach_socket(ssl.get(), sock_.native_handle())) return false;
    ssl_ = std::move(ssl);
    nodelay_ = Nodelay::set;   // TLS sockets get TCP_NODELAY when they are made
    return true;
  }

  bool is_tls() const { return ssl_ != nullptr; }
  // The connection's SSL (SNI, ALPN, verification results, sessions), or null.
  SSL* ssl() const { return ssl_.get(); }
  Socket& socket() { return sock_; }
  const Socket& socket() const { return sock_; }
  bool is_open() const { return sock_.is_open(); }

  // The TLS handshake, in the role new_ssl() gave (nothing to do when done).
  awaitable<error_code> handshake();
  bool handshake_done() const { return !ssl_ || SSL_is_init_finished(ssl_.get()); }

  // True when no byte of the peer's is held above the socket: plain TCP
  // always; TLS when OpenSSL has nothing buffered, decrypted or not. Only
  // then is the socket's readiness the whole truth about what is waiting
  // to be read, so only then may a connection be parked on it.
  bool quiet() const { return !ssl_ || SSL_has_pending(ssl_.get()) == 0; }
  // Hands OpenSSL's record buffers back now if it still holds them unused.
  void release_buffers() {
    if (ssl_) SSL_free_buffers(ssl_.get());
  }
  // The SSL leaves with its ownership (for the idle set, which keeps the
  // bare descriptor and this); restore_ssl() gives it back.
  SslHandle take_ssl() { return std::move(ssl_); }
  void restore_ssl(SslHandle ssl) { ssl_ = std::move(ssl); }

  template <class MutableBuffers>
  auto read_some(const MutableBuffers& b) {
    if (ssl_) return tls_read_some(*asio::buffer_sequence_begin(b));
    return sock_.async_read_some(b, nothrow);
  }
  // Reads into `buf`'s tail like read_some(), first making the tail at
  // least `min_room` long (reserving `reserve`). TLS: while it must wait
  // for the peer, `buf` keeps only the bytes it holds (a slow client's few
  // bytes do not pin a 16 KiB block for minutes); the bytes read are at
  // buf.tail() on return, for the caller to commit.
  auto read_some_into(core::Buffer& buf, size_t min_room, size_t reserve) {
    if (ssl_) return tls_read_some_into(buf, min_room, reserve);
    if (buf.tail_room() < min_room) buf.reserve_tail(reserve);
    return sock_.async_read_some(asio::buffer(buf.tail(), buf.tail_room()), nothrow);
  }

  template <class ConstBuffers>
  auto write_all(const ConstBuffers& b) {
    if (ssl_) return tls_write_all(b);
    if (nodelay_ != Nodelay::set) before_write();
    return asio::async_write(sock_, b, nothrow);
  }

  // TCP_NODELAY from the second write on. The first write on a fresh
  // connection leaves at once with or without Nagle (nothing is in flight
  // yet), so a connection answered in one write — every `Connection: close`
  // request with a small answer — is spared the setsockopt. Plain TCP only:
  // TLS sockets have it set when they are made.
  void nodelay_from_second_write() { nodelay_ = Nodelay::before_first; }
  // The pending part of that, to carry it while the socket is out of this
  // Stream (net/idle_set.h): 0 nothing pending, 1 and 2 as above.
  uint8_t nodelay_pending() const { return static_cast<uint8_t>(nodelay_); }
  void restore_nodelay_pending(uint8_t v) { nodelay_ = static_cast<Nodelay>(v); }

  // Aborts pending operations (they complete with operation_aborted); the
  // connection stays open so a final response can still be written. A TLS
  // operation that is between two waits when this is called ends too.
  void cancel() {
    ++cancels_;
    error_code ec;
    sock_.cancel(ec);
  }
  void close() {
    // A TLS connection closed without close_notify would mark its session
    // not resumable; mark it shut down quietly so the cached session stays
    // usable (SslQuietFree does the same whenever the SSL is freed).
    if (ssl_) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    // close() alone sends the FIN after queued data; a shutdown first would
    // only cost a syscall per connection.
    error_code ec;
    sock_.close(ec);
  }
  // Half-close (FIN) after the last byte, for tunnels and read-until-close bodies.
  void shutdown_send() {
    error_code ec;
    sock_.shutdown(Socket::shutdown_send, ec);
  }

 private:
  enum class Nodelay : uint8_t { set = 0, before_first = 1, before_second = 2 };
  void before_write() {
    if (nodelay_ == Nodelay::before_first) {
      nodelay_ = Nodelay::before_second;
      return;
    }
    error_code ignored;
    sock_.set_option(tcp::no_delay(true), ignored);
    nodelay_ = Nodelay::set;
  }

  awaitable<void> tls_wait(tls_io::Probe& pr, uint32_t cancels_at, bool speculate);
  awaitable<std::tuple<error_code, size_t>> tls_read_some(asio::mutable_buffer b);
  awaitable<std::tuple<error_code, size_t>> tls_read_some_into(core::Buffer& buf, size_t min_room,
                                                               size_t reserve);
  awaitable<error_code> tls_write(const char* p, size_t n);
  template <class ConstBuffers>
  awaitable<std::tuple<error_code, size_t>> tls_write_all(ConstBuffers bufs);

  Socket sock_;
  SslHandle ssl_;
  uint32_t cancels_ = 0;              // cancel() calls so far (TLS operations check it)
  Nodelay nodelay_ = Nodelay::set;   // set: nothing to do (already set, or not wanted)
};

// Small pieces (a head, chunk-size lines, a short body) are gathered into one
// record, so they leave in one record and one send as they would in plain
// TCP; a piece of a full record or more is encrypted where it lies.
template <class ConstBuffers>
awaitable<std::tuple<error_code, size_t>> Stream::tls_write_all(ConstBuffers bufs) {
  constexpr size_t kRecord = 16 * 1024;   // TLS's largest record payload
  auto it = asio::buffer_sequence_begin(bufs);
  const auto end = asio::buffer_sequence_end(bufs);
  asio::const_buffer cur;
  auto next = [&] {   // the next non-empty piece into `cur`; false at the end
    while (cur.size() == 0) {
      if (it == end) return false;
      cur = asio::const_buffer(*it);
      ++it;
    }
    return true;
  };
  auto more_after_cur = [&] {
    return std::any_of(it, end, [](const auto& b) { return asio::const_buffer(b).size() > 0; });
  };
  core::Buffer gather;
  size_t total = 0;
  while (next()) {
    const char* p;
    size_t n;
    if (cur.size() >= kRecord || !more_after_cur()) {
      p = static_cast<const char*>(cur.data());
      n = cur.size();
      cur = asio::const_buffer();
    } else {
      gather.clear();
      gather.reserve_tail(kRecord);
      while (gather.size() < kRecord && next()) {
        size_t k = std::min(cur.size(), kRecord - gather.size());
        std::memcpy(gather.tail(), cur.data(), k);
        gather.commit(k);
        cur += k;
      }
      p = gather.data();
      n = gather.size();
    }
    if (error_code ec = co_await tls_write(p, n)) co_return std::tuple(ec, total);
    total += n;
  }
  co_return std::tuple(error_code(), total);
}

}  // namespace gh::net
