// The back side's TLS: one context per route with `ssl: true`. Verifies the
// backend's certificate (system store or tls.ca_file) and name (backend host
// or tls.sni; IP literals as IP addresses), presents a client certificate
// when configured (mTLS), and resumes sessions per backend host:port.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"

namespace gh::tls {

class ClientContext {
 public:
  // Builds the context for a route's `tls` block. `tls.verify: false` turns
  // certificate and name checks off (an explicit opt-out); otherwise
  // backends are verified against `tls.ca_file` (when set; its certificates
  // are trusted as given, intermediates included) or the system store.
  // Refuses (nullptr, err = "FILE: message"): an unreadable or certificate-less
  // ca_file, a cert_file without key_file or the reverse, and a client
  // certificate/key pair that is unreadable, encrypted or mismatched.
  static std::shared_ptr<ClientContext> create(const config::UpstreamTls& tls, std::string& err);

  // Make each backend connection's SSL from this (net::new_ssl()).
  boost::asio::ssl::context& asio_context() { return ctx_; }
  SSL_CTX* native_handle() const { return const_cast<boost::asio::ssl::context&>(ctx_).native_handle(); }

  // Before the handshake of a new connection to `host` (a DNS name or an IP
  // literal, IPv6 without brackets) at `port`: sets SNI (tls.sni, else the
  // host when it is a name; never an IP literal), the name or IP the
  // certificate must match (tls.sni, else host; skipped with verify: false),
  // and a cached session for host:port to resume. Refuses (false: do not
  // connect) an empty host, a host OpenSSL cannot take as SNI or as the
  // expected name — never a reason to go on unverified.
  [[nodiscard]] bool prepare(SSL* ssl, const std::string& host, uint16_t port) const;

  // After a successful handshake: keeps the session for the next connection
  // to the same host:port. Optional: sessions are also stored as the server
  // sends them, which is how TLS 1.3 tickets (sent after the handshake)
  // arrive. Ignores an SSL that prepare() did not see or that has no
  // resumable session. Thread-safe.
  void save_session(SSL* ssl) const;
  // Forgets the cached session for host:port (e.g. after a failed handshake).
  void forget_session(const std::string& host, uint16_t port) const;

  // After a failed handshake: why verification failed ("certificate has
  // expired", "hostname mismatch", "unable to get local issuer
  // certificate", ...), or "" when verification did not fail (the handshake
  // failed for another reason, or verify: false).
  static std::string verify_error(const SSL* ssl);

  bool verifies() const { return verify_; }

  ClientContext(boost::asio::ssl::context ctx, config::UpstreamTls tls)
      : ctx_(std::move(ctx)), verify_(tls.verify), sni_(std::move(tls.sni)) {}

 private:
  boost::asio::ssl::context ctx_;
  bool verify_;
  std::string sni_;
};

}  // namespace gh::tls
