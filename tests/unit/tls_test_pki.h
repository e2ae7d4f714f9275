// Throwaway PKI for the TLS unit tests: an in-memory CA issuing leaf
// certificates with chosen subjectAltNames, written as PEM files into a
// temporary directory removed at the end of each test. Keys are EC P-256
// (fast to make) and never leave the test's temp dir.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tls/ossl.h"

namespace gh::tls::testpki {

struct Issued {
  X509Ptr cert;
  PkeyPtr key;
};

inline PkeyPtr make_key() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  EXPECT_TRUE(k) << "EC key generation failed";
  return k;
}

inline void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << "bad extension " << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// `sans`: OpenSSL syntax entries such as "DNS:a.example.com" or "IP:127.0.0.1".
// `issuer` null: self-signed with `key`.
inline Issued issue(const std::string& cn, const std::vector<std::string>& sans, bool ca,
                    const Issued* issuer, long valid_from_s = -3600, long valid_to_s = 86400) {
  Issued out;
  out.key = make_key();
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), valid_from_s);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), valid_to_s);
  X509_set_pubkey(x.get(), out.key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer_cert));
  add_ext(x.get(), issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x.get(), issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(x.get(), issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (ca) {
    add_ext(x.get(), issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x.get(), issuer_cert, NID_key_usage, "critical,digitalSignature");
    add_ext(x.get(), issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (!sans.empty()) {
    std::string list;
    for (const std::string& s : sans) list += (list.empty() ? "" : ",") + s;
    add_ext(x.get(), issuer_cert, NID_subject_alt_name, list);
  }
  EVP_PKEY* signer = issuer ? issuer->key.get() : out.key.get();
  EXPECT_GT(X509_sign(x.get(), signer, EVP_sha256()), 0);
  out.cert = std::move(x);
  return out;
}

inline Issued make_ca(const std::string& cn) { return issue(cn, {}, true, nullptr); }

inline std::string cert_pem(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* p = nullptr;
  long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

inline std::string key_pem(EVP_PKEY* k, const char* passphrase = nullptr) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (passphrase) {
    PEM_write_bio_PKCS8PrivateKey(b.get(), k, EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                  const_cast<char*>(passphrase));
  } else {
    PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* p = nullptr;
  long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "gh_tls_XXXXXX";
    char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  // cert (+ chain) and key as NAME.pem / NAME.key; returns {cert path, key path}.
  std::pair<std::string, std::string> write_pair(const std::string& name, const Issued& leaf,
                                                 const std::vector<const Issued*>& chain = {}) const {
    std::string certs = cert_pem(leaf.cert.get());
    for (const Issued* c : chain) certs += cert_pem(c->cert.get());
    return {write(name + ".pem", certs), write(name + ".key", key_pem(leaf.key.get()))};
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Result of driving a client and a server SSL against each other in memory.
struct Handshake {
  bool ok = false;
  std::string client_error;  // OpenSSL reason when the client side failed
  std::string server_error;
};

// Connects `c` and `s` through a BIO pair and runs both handshakes in this
// thread, then lets each side read once so post-handshake messages (TLS 1.3
// session tickets) are processed. Errors are taken per side so one side's
// error queue never blames the other.
inline Handshake run_handshake(SSL* c, SSL* s) {
  Handshake h;
  BIO* bc = nullptr;
  BIO* bs = nullptr;
  BIO_new_bio_pair(&bc, 0, &bs, 0);
  SSL_set_bio(c, bc, bc);
  SSL_set_bio(s, bs, bs);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  bool c_done = false, s_done = false, c_fail = false, s_fail = false;
  auto step = [](SSL* ssl, bool& done, bool& fail, std::string& err) {
    if (done || fail) return;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
      done = true;
      return;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    fail = true;
    err = take_ossl_error("handshake failed");
  };
  for (int i = 0; i < 50 && !(c_done && s_done); ++i) {
    step(c, c_done, c_fail, h.client_error);
    step(s, s_done, s_fail, h.server_error);
    if (c_fail && s_fail) break;
    if ((c_fail || s_fail) && i > 10) break;
  }
  h.ok = c_done && s_done;
  if (h.ok) {
    char buf[64];
    for (int i = 0; i < 3; ++i) {
      SSL_read(c, buf, sizeof buf);
      SSL_read(s, buf, sizeof buf);
    }
    ERR_clear_error();
  }
  return h;
}

inline std::string subject_cn(X509* cert) {
  if (!cert) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

}  // namespace gh::tls::testpki
