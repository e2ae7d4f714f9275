// Loading and checking PEM certificates and keys. Every failure becomes a
// message "FILE: what is wrong" naming the file at fault; nothing here
// throws, prompts for a pass phrase or crashes on a bad file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "tls/ossl.h"

namespace gh::tls {

// A certificate with the chain sent after it and its private key.
struct CertKey {
  X509Ptr cert;
  std::vector<X509Ptr> chain;  // intermediates, in file order
  PkeyPtr key;
};

// Reads `cert_file` (PEM: the leaf first, then any intermediates) and
// `key_file` (PEM private key, unencrypted; may be the same file as the
// certificate). Refuses, with err = "FILE: message": unreadable or oversized
// files, files without a PEM certificate or key, unparsable PEM, encrypted
// keys, and a key that does not match the leaf certificate.
std::optional<CertKey> load_cert_key(const std::string& cert_file, const std::string& key_file,
                                     std::string& err);

// Puts `ck` into `ctx` as its certificate, chain and key. Refuses (false,
// err = "CERT_FILE: reason") what OpenSSL rejects at the context's security
// level, e.g. a too small RSA key.
bool install_cert_key(SSL_CTX* ctx, const CertKey& ck, const std::string& cert_file,
                      std::string& err);

// The DNS names a certificate is valid for, lower-cased: its subjectAltName
// dNSName entries, or the subject CN when there are none (old certificates).
// Wildcards stay as written ("*.example.com"). Empty for a certificate with
// no names at all.
std::vector<std::string> dns_names(X509* cert);

// Reads a CA bundle: true when `path` is readable and holds at least one PEM
// certificate, all of them parsable. Otherwise false with err = "FILE: message".
bool check_ca_file(const std::string& path, std::string& err);

// For `gatehouse check` and start-up: every certificate/key pair of the front
// `ssl` block (when enabled) and every route's `tls` ca_file and client
// certificate (when the route has ssl: true) is loaded and checked as the real
// contexts would. Returns one config::Error per problem, positioned at the
// YAML node that named the file; message "FILE: what is wrong". Empty: all good.
std::vector<config::Error> validate(const config::Config& cfg);

}  // namespace gh::tls
