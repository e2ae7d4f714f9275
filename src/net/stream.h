// A byte stream to a peer: plain TCP or TLS over TCP. Everything that moves
// bytes (the HTTP session, the upstream pool, tunnels) uses this, so TLS on
// either side plugs in without the protocol code knowing.
#pragma once

#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <optional>

#include "net/asio.h"

namespace gh::net {

class Stream {
 public:
  using TlsStream = asio::ssl::stream<Socket>;

  explicit Stream(Socket s) : plain_(std::move(s)) {}
  explicit Stream(std::unique_ptr<TlsStream> t) : tls_(std::move(t)) {}
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  bool is_tls() const { return tls_ != nullptr; }
  TlsStream* tls() { return tls_.get(); }
  Socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  const Socket& socket() const { return tls_ ? tls_->next_layer() : *plain_; }
  bool is_open() const { return socket().is_open(); }

  template <class MutableBuffers>
  auto read_some(const MutableBuffers& b) {
    if (tls_) return tls_->async_read_some(b, nothrow);
    return plain_->async_read_some(b, nothrow);
  }
  template <class ConstBuffers>
  auto write_all(const ConstBuffers& b) {
    if (nodelay_ != Nodelay::set) before_write();
    if (tls_) return asio::async_write(*tls_, b, nothrow);
    return asio::async_write(*plain_, b, nothrow);
  }

  // TCP_NODELAY from the second write on. The first write on a fresh
  // connection leaves at once with or without Nagle (nothing is in flight
  // yet), so a connection answered in one write — every `Connection: close`
  // request with a small answer — is spared the setsockopt. Plain TCP only:
  // TLS writes its handshake without going through write_all.
  void nodelay_from_second_write() { nodelay_ = Nodelay::before_first; }
  // The pending part of that, to carry it while the socket is out of this
  // Stream (net/idle_set.h): 0 nothing pending, 1 and 2 as above.
  uint8_t nodelay_pending() const { return static_cast<uint8_t>(nodelay_); }
  void restore_nodelay_pending(uint8_t v) { nodelay_ = static_cast<Nodelay>(v); }

  // Aborts pending operations (they complete with operation_aborted); the
  // connection stays open so a final response can still be written.
  void cancel() {
    error_code ec;
    socket().cancel(ec);
  }
  void close() {
    // A TLS connection closed without close_notify would mark its session
    // not resumable; mark it shut down quietly so the cached session stays usable.
    if (tls_) SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    // close() alone sends the FIN after queued data; a shutdown first would
    // only cost a syscall per connection.
    error_code ec;
    socket().close(ec);
  }
  // Half-close (FIN) after the last byte, for tunnels and read-until-close bodies.
  void shutdown_send() {
    error_code ec;
    socket().shutdown(Socket::shutdown_send, ec);
  }

 private:
  enum class Nodelay : uint8_t { set = 0, before_first = 1, before_second = 2 };
  void before_write() {
    if (nodelay_ == Nodelay::before_first) {
      nodelay_ = Nodelay::before_second;
      return;
    }
    error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);
    nodelay_ = Nodelay::set;
  }

  Nodelay nodelay_ = Nodelay::set;   // set: nothing to do (already set, or not wanted)
  std::optional<Socket> plain_;
  std::unique_ptr<TlsStream> tls_;
};

}  // namespace gh::net
