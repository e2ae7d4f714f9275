// Small RAII and error helpers around OpenSSL's C API, shared by the rest
// of src/tls. Nothing here knows about configs or Asio.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace gh::tls {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// The reason of the oldest error in this thread's OpenSSL error queue
// ("no start line", "ee key too small", ...) or `fallback` when the queue is
// empty. Always empties the queue: a stale entry left behind would make a
// later, unrelated Asio TLS operation on this thread look failed.
std::string take_ossl_error(const char* fallback = "unknown OpenSSL error");

// True when ALPN chose "h2" on `ssl` (RFC 9113 3.2); false for a null `ssl`.
inline bool alpn_is_h2(const SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  if (ssl) SSL_get0_alpn_selected(ssl, &p, &len);
  return len == 2 && p[0] == 'h' && p[1] == '2';
}

}  // namespace gh::tls
