// Certificates that change while the process serves (ACME, src/acme): the
// certificates issued for names, and the tls-alpn-01 validation
// certificates (RFC 8737) of challenges in progress. The ACME manager's
// thread publishes; every handshake on a TLS listener whose config has
// `ssl.acme` reads a snapshot in the servername callback
// (tls/server_context.cc), so a new certificate serves the next handshake
// without a reload and without a lock on the handshake path.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/certificates.h"
#include "tls/ossl.h"
#include "tls/server_context.h"

namespace gh::tls {

// A self-signed certificate (P-256, CN "gatehouse placeholder", valid for a
// year) made in memory: what the TLS listener serves for names the CA has
// not issued yet when `ssl.acme` is set without `cert_file`. nullopt only
// when OpenSSL fails.
std::optional<CertKey> make_placeholder_certificate();

class LiveCertificates {
 public:
  // A context pair for one certificate: a handshake keeps the ALPN list of
  // the listener it arrived on (h2 offered or not).
  struct Entry {
    SslCtxPtr http11;
    SslCtxPtr h2;
    std::vector<std::string> names;   // the certificate's DNS names (lower case)
    SSL_CTX* for_alpn(bool offer_h2) const { return offer_h2 ? h2.get() : http11.get(); }
  };
  // Immutable once published.
  struct Snapshot {
    std::unordered_map<std::string, std::shared_ptr<const Entry>> by_name;
    // Name -> the acme-tls/1 context of its pending tls-alpn-01 challenge.
    std::unordered_map<std::string, std::shared_ptr<const Entry>> challenges;
    // The first certificate published: the default where the config has
    // no certificate of its own (the placeholder would serve otherwise).
    std::shared_ptr<const Entry> first;
  };

  // The process's instance (the ACME manager writes it, servers read it).
  static LiveCertificates& process();

  // Serves `ck` for every DNS name in its certificate from the next
  // handshake on, replacing what served those names. `label` names it in
  // errors. false + err when OpenSSL refuses it (nothing changes).
  bool set_certificate(const CertKey& ck, const std::string& label, std::string& err);
  // Stops serving the certificate published for `name` (its other names too).
  void remove_certificate(std::string_view name);
  // The tls-alpn-01 certificate for `name` (lower case) until cleared: a
  // ClientHello with this SNI offering ALPN "acme-tls/1" gets it.
  bool set_challenge(const std::string& name, const CertKey& ck, std::string& err);
  void clear_challenge(const std::string& name);

  // The current snapshot; never null.
  std::shared_ptr<const Snapshot> snapshot() const { return current_.load(); }

  LiveCertificates();

 private:
  void publish(std::shared_ptr<const Snapshot> s);
  std::mutex write_mu_;   // writers copy, change and publish one at a time
  std::string first_name_;   // under write_mu_
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace gh::tls
