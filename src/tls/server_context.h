// The front side's TLS: one OpenSSL context per configured certificate, the
// first being the default that Asio streams are created from. A servername
// (SNI) callback moves each handshake to the context whose certificate names
// the server the client asked for. Immutable once built; a reload (or a
// certificate change) builds a new one while connections made from the old
// one finish undisturbed.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "tls/ticket_key_file.h"

namespace gh::tls {

class ServerContext {
 public:
  // Builds the contexts from `ssl.cert_file`/`ssl.key_file` (the default,
  // used for unknown or absent SNI) and each `ssl.certificates` entry (chosen
  // by the DNS names in its subjectAltName, exact or "*.domain"). `ssl.enabled`
  // is not looked at: the caller decides whether TLS is wanted. ALPN offers
  // http/1.1, and h2 before it when `offer_h2`.
  // Refuses (nullptr, err = "FILE: message"): a missing, unreadable or
  // unparsable certificate or key, an encrypted key, a key that does not
  // match its certificate, a certificate OpenSSL rejects (e.g. a too small key),
  // an unreadable or malformed `ssl.ticket_key_file` (read here, used once
  // use_ticket_keys() is called).
  static std::shared_ptr<ServerContext> create(const config::Ssl& ssl, bool offer_h2,
                                               std::string& err);
  // Same with h2 not offered (HTTP/1.1 only).
  static std::shared_ptr<ServerContext> create(const config::Ssl& ssl, std::string& err);

  // The default context: each accepted connection's SSL is made from it.
  // The SSL keeps what it needs alive (certificates, SNI table), so it may
  // outlive this object.
  boost::asio::ssl::context& asio_context() { return ctx_; }
  // The same context, for net::new_ssl() (net/tls_io.h).
  SSL_CTX* native_handle() { return ctx_.native_handle(); }

  // Index into the configured certificates (0: cert_file, i: certificates[i-1])
  // that a handshake with SNI `server_name` gets; "" means no SNI. Accepts any
  // bytes; unknown names give 0.
  size_t certificate_for(std::string_view server_name) const;
  size_t certificate_count() const { return count_; }
  bool offers_h2() const { return offer_h2_; }

  // After the handshake: the ALPN protocol agreed on ("h2", "http/1.1"), or
  // "" when the client sent no ALPN. The view lives as long as `ssl`.
  static std::string_view alpn_selected(const SSL* ssl);
  // After the handshake: the SNI the client sent, or "" for none.
  static std::string_view server_name(const SSL* ssl);

  // Makes the process's ticket keys those this context was built with: the
  // keys read from `ssl.ticket_key_file`, or the in-memory ring without one.
  // Called when the snapshot holding this context is published, so a reload
  // rejected later keeps the old keys.
  void use_ticket_keys() const;

  ServerContext(boost::asio::ssl::context ctx, size_t count, bool offer_h2)
      : ctx_(std::move(ctx)), count_(count), offer_h2_(offer_h2) {}

 private:
  std::shared_ptr<const TicketKeySet> ticket_keys_;  // null: the in-memory ring
  boost::asio::ssl::context ctx_;
  size_t count_;
  bool offer_h2_;
};

}  // namespace gh::tls
