#include "tls/live_certificates.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

namespace gh::tls {

std::optional<CertKey> make_placeholder_certificate() {
  CertKey ck;
  ck.key.reset(EVP_EC_gen("P-256"));
  ck.cert.reset(X509_new());
  if (!ck.key || !ck.cert) return std::nullopt;
  X509* x = ck.cert.get();
  // A random serial: two placeholders never look like one certificate.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return std::nullopt;
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(x);
  ok = ok && X509_set_version(x, 2) == 1 &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>("gatehouse placeholder"),
                                  -1, -1, 0) == 1 &&
       X509_set_issuer_name(x, name) == 1 && X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
       X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) &&
       X509_set_pubkey(x, ck.key.get()) == 1 && X509_sign(x, ck.key.get(), EVP_sha256()) > 0;
  if (!ok) return std::nullopt;
  return ck;
}

LiveCertificates::LiveCertificates() { current_.store(std::make_shared<const Snapshot>()); }

LiveCertificates& LiveCertificates::process() {
  static LiveCertificates live;
  return live;
}

void LiveCertificates::publish(std::shared_ptr<const Snapshot> s) { current_.store(std::move(s)); }

bool LiveCertificates::set_certificate(const CertKey& ck, const std::string& label,
                                       std::string& err) {
  auto e = std::make_shared<Entry>();
  e->http11 = make_server_ctx(ck, Alpn::http11, label, err);
  if (!e->http11) return false;
  e->h2 = make_server_ctx(ck, Alpn::h2_http11, label, err);
  if (!e->h2) return false;
  e->names = dns_names(ck.cert.get());
  if (e->names.empty()) {
    err = label + ": the certificate names no DNS name";
    return false;
  }
  std::lock_guard lk(write_mu_);
  auto next = std::make_shared<Snapshot>(*current_.load());
  for (const std::string& n : e->names) next->by_name[n] = e;
  // The default is whatever serves the first name ever published (the
  // manager publishes in the order of ssl.acme.domains).
  if (first_name_.empty()) first_name_ = e->names.front();
  auto f = next->by_name.find(first_name_);
  next->first = f != next->by_name.end() ? f->second : e;
  publish(std::move(next));
  return true;
}

void LiveCertificates::remove_certificate(std::string_view name) {
  std::lock_guard lk(write_mu_);
  auto next = std::make_shared<Snapshot>(*current_.load());
  auto it = next->by_name.find(std::string(name));
  if (it == next->by_name.end()) return;
  std::shared_ptr<const Entry> gone = it->second;
  for (const std::string& n : gone->names) {
    auto j = next->by_name.find(n);
    if (j != next->by_name.end() && j->second == gone) next->by_name.erase(j);
  }
  if (next->first == gone) next->first = next->by_name.empty() ? nullptr : next->by_name.begin()->second;
  first_name_ = next->first ? next->first->names.front() : std::string();
  publish(std::move(next));
}

bool LiveCertificates::set_challenge(const std::string& name, const CertKey& ck,
                                     std::string& err) {
  auto e = std::make_shared<Entry>();
  e->http11 = make_server_ctx(ck, Alpn::acme_tls, "tls-alpn-01 certificate for " + name, err);
  if (!e->http11) return false;
  e->names = {name};
  std::lock_guard lk(write_mu_);
  auto next = std::make_shared<Snapshot>(*current_.load());
  next->challenges[name] = std::move(e);
  publish(std::move(next));
  return true;
}

void LiveCertificates::clear_challenge(const std::string& name) {
  std::lock_guard lk(write_mu_);
  auto next = std::make_shared<Snapshot>(*current_.load());
  if (next->challenges.erase(name) == 0) return;
  publish(std::move(next));
}

}  // namespace gh::tls
