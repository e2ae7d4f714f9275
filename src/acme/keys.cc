#include "acme/keys.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace gh::acme {

namespace {

struct ReqFree {
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct ExtsFree {
  void operator()(STACK_OF(X509_EXTENSION) * p) const { sk_X509_EXTENSION_free(p); }
};
struct ObjFree {
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
};
struct OctetFree {
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
};

// A subjectAltName extension with each name as a dNSName. Built from
// GENERAL_NAMEs rather than a "DNS:a,DNS:b" config string, so no name can
// smuggle in another entry.
std::unique_ptr<X509_EXTENSION, ExtFree> san_extension(const std::vector<std::string>& names) {
  std::unique_ptr<GENERAL_NAMES, NamesFree> gens(sk_GENERAL_NAME_new_null());
  if (!gens) return nullptr;
  for (const std::string& n : names) {
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!g || !s || !ASN1_STRING_set(s, n.data(), static_cast<int>(n.size()))) {
      GENERAL_NAME_free(g);
      ASN1_IA5STRING_free(s);
      return nullptr;
    }
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    if (!sk_GENERAL_NAME_push(gens.get(), g)) {
      GENERAL_NAME_free(g);
      return nullptr;
    }
  }
  return std::unique_ptr<X509_EXTENSION, ExtFree>(X509V3_EXT_i2d(NID_subject_alt_name, 0, gens.get()));
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t, bool& ok) {
  struct tm tm {};
  ok = t && ASN1_TIME_to_tm(t, &tm) == 1;
  if (!ok) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

PkeyPtr generate_ec_key() {
  return PkeyPtr(EVP_EC_gen("P-256"));
}

std::string private_key_pem(EVP_PKEY* key) {
  tls::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !key || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

PkeyPtr load_private_key_pem(std::string_view pem, std::string& err) {
  tls::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // An empty passphrase callback: an encrypted key fails instead of
  // prompting on the terminal.
  auto no_pass = [](char*, int, int, void*) -> int { return 0; };
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr) : nullptr);
  if (!key) err = tls::take_ossl_error("not a PEM private key");
  return key;
}

PkeyPtr load_private_key_file(const std::string& path, std::string& err) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    err = path + ": " + ec.message();
    return nullptr;
  }
  if (size > 1024 * 1024) {
    err = path + ": larger than 1 MiB, not a private key";
    return nullptr;
  }
  std::string text(size, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = path + ": " + std::strerror(errno);
    return nullptr;
  }
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  std::string why;
  PkeyPtr key = load_private_key_pem(text, why);
  if (!key) err = path + ": " + why;
  return key;
}

bool write_private_file(const std::string& path, std::string_view data, std::string& err) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string tmp = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  // mkstemp creates the file with mode 0600 (O_EXCL): never readable by
  // others, whatever the umask.
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    err = path + ": cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno);
    return false;
  }
  auto fail = [&](const char* what) {
    err = path + ": " + what + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  if (::fchmod(fd, 0600) != 0) return fail("chmod");
  size_t put = 0;
  while (put < data.size()) {
    const ssize_t n = ::write(fd, data.data() + put, data.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    put += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    err = path + ": close: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = path + ": rename: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself durable too (best effort: some filesystems refuse).
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool save_private_key_file(const std::string& path, EVP_PKEY* key, std::string& err) {
  const std::string pem = private_key_pem(key);
  if (pem.empty()) {
    err = path + ": cannot encode the private key";
    return false;
  }
  return write_private_file(path, pem, err);
}

std::optional<std::string> make_csr(const std::vector<std::string>& domains, EVP_PKEY* key,
                                    std::string& err) {
  if (domains.empty()) {
    err = "CSR: no domains";
    return std::nullopt;
  }
  if (!key) {
    err = "CSR: no key";
    return std::nullopt;
  }
  std::unique_ptr<X509_REQ, ReqFree> req(X509_REQ_new());
  bool ok = req && X509_REQ_set_version(req.get(), 0) == 1;
  // The CN is optional for ACME (the SANs are what counts) and limited to
  // 64 bytes (RFC 5280 upper bound): a longer first name goes without.
  if (ok && domains[0].size() <= 64) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    ok = X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(domains[0].data()),
                                    static_cast<int>(domains[0].size()), -1, 0) == 1;
  }
  ok = ok && X509_REQ_set_pubkey(req.get(), key) == 1;
  if (ok) {
    auto san = san_extension(domains);
    std::unique_ptr<STACK_OF(X509_EXTENSION), ExtsFree> exts(sk_X509_EXTENSION_new_null());
    ok = san && exts && sk_X509_EXTENSION_push(exts.get(), san.get()) &&
         X509_REQ_add_extensions(req.get(), exts.get()) == 1;
  }
  ok = ok && X509_REQ_sign(req.get(), key, EVP_sha256()) > 0;
  unsigned char* der = nullptr;
  const int len = ok ? i2d_X509_REQ(req.get(), &der) : -1;
  if (len <= 0) {
    err = "CSR: " + tls::take_ossl_error("cannot build the request");
    return std::nullopt;
  }
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::optional<AlpnCertificate> make_tls_alpn01_certificate(std::string_view domain,
                                                          std::string_view key_authorization,
                                                          std::string& err) {
  AlpnCertificate out;
  out.key = generate_ec_key();
  out.cert.reset(X509_new());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_authorization.data()), key_authorization.size(),
         digest);
  // extnValue holds the DER of an OCTET STRING with the digest (RFC 8737 3:
  // "Authorization ::= OCTET STRING (SIZE (32))").
  unsigned char inner[2 + SHA256_DIGEST_LENGTH] = {0x04, SHA256_DIGEST_LENGTH};
  std::memcpy(inner + 2, digest, sizeof digest);
  std::unique_ptr<ASN1_OBJECT, ObjFree> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  std::unique_ptr<ASN1_OCTET_STRING, OctetFree> value(ASN1_OCTET_STRING_new());
  X509* c = out.cert.get();
  bool ok = out.key && c && oid && value && ASN1_OCTET_STRING_set(value.get(), inner, sizeof inner) == 1;
  ok = ok && X509_set_version(c, 2) == 1;
  // A random serial: two validation certificates never look alike.
  unsigned char serial[16];
  ok = ok && RAND_bytes(serial, sizeof serial) == 1;
  if (ok) {
    serial[0] &= 0x7f;   // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != nullptr;
    BN_free(bn);
  }
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(c), -3600) && X509_gmtime_adj(X509_getm_notAfter(c), 7 * 86400);
  if (ok) {
    // Subject = issuer = CN=<domain> (when it fits; RFC 8737 needs only the SAN).
    X509_NAME* name = X509_get_subject_name(c);
    if (domain.size() <= 64)
      ok = X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(domain.data()),
                                      static_cast<int>(domain.size()), -1, 0) == 1;
    ok = ok && X509_set_issuer_name(c, name) == 1;
  }
  ok = ok && X509_set_pubkey(c, out.key.get()) == 1;
  if (ok) {
    auto san = san_extension({std::string(domain)});
    ok = san && X509_add_ext(c, san.get(), -1) == 1;
  }
  if (ok) {
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(
        X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), /*critical=*/1, value.get()));
    ok = ext && X509_add_ext(c, ext.get(), -1) == 1;
  }
  ok = ok && X509_sign(c, out.key.get(), EVP_sha256()) > 0;
  if (!ok) {
    err = "tls-alpn-01 certificate: " + tls::take_ossl_error("cannot build it");
    return std::nullopt;
  }
  return out;
}

std::string certificate_pem(X509* cert) {
  tls::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !cert || !PEM_write_bio_X509(bio.get(), cert)) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::optional<Validity> parse_chain_validity(std::string_view chain_pem, std::string& err) {
  tls::BioPtr bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  X509Ptr leaf(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!leaf) {
    err = "certificate chain: " + tls::take_ossl_error("no certificate");
    return std::nullopt;
  }
  Validity v;
  bool ok1 = false, ok2 = false;
  v.not_before = to_time_point(X509_get0_notBefore(leaf.get()), ok1);
  v.not_after = to_time_point(X509_get0_notAfter(leaf.get()), ok2);
  if (!ok1 || !ok2) {
    err = "certificate chain: the leaf's validity cannot be read";
    ERR_clear_error();
    return std::nullopt;
  }
  return v;
}

std::string chain_mismatch(std::string_view chain_pem, EVP_PKEY* key, const std::vector<std::string>& names) {
  tls::BioPtr bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  X509Ptr leaf(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!leaf) return "no certificate in the chain";
  if (!key || EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), key) != 1) return "the leaf is not for this key";
  for (const std::string& n : names)
    if (X509_check_host(leaf.get(), n.data(), n.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) != 1) {
      std::string shown;
      for (char c : n.substr(0, 253)) shown.push_back(c < 0x20 || c == 0x7f ? '?' : c);
      return "the leaf does not cover " + shown;
    }
  return {};
}

}  // namespace gh::acme
