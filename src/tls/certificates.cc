#include "tls/certificates.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gh::tls {
namespace {

// Far above any real certificate chain or CA bundle (Mozilla's is ~200 KiB);
// keeps a mistaken path such as a disk image from being read into memory.
constexpr off_t kMaxPemBytes = 8 << 20;

// Reads a whole regular file. O_NONBLOCK keeps a FIFO from hanging the
// caller; a directory or device is refused before reading.
bool read_small_file(const std::string& path, std::string& out, std::string& err) {
  if (path.empty()) {
    err = "(no file): a file name is required";
    return false;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    err = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    err = path + ": not a regular file";
    return false;
  }
  if (st.st_size > kMaxPemBytes) {
    ::close(fd);
    err = path + ": too large for a PEM file (" + std::to_string(st.st_size) + " bytes)";
    return false;
  }
  out.assign(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      err = path + ": cannot read: " + std::strerror(e);
      return false;
    }
    if (n == 0) break;  // shrank while reading: use what is there
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return true;
}

BioPtr mem_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// True when the last PEM read failed only because no further block of the
// wanted kind exists (as opposed to a malformed block).
bool pem_ran_out() {
  unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

// Reads every certificate in `text`. Refuses a file with none, or with a
// malformed one.
bool read_certs(const std::string& path, const std::string& text, std::vector<X509Ptr>& out,
                std::string& err) {
  BioPtr bio = mem_bio(text);
  if (!bio) {
    err = path + ": " + take_ossl_error("out of memory");
    return false;
  }
  ERR_clear_error();
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) {
      out.push_back(std::move(cert));
      continue;
    }
    if (pem_ran_out()) {
      ERR_clear_error();
      if (!out.empty()) return true;
      err = path + ": no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)";
      return false;
    }
    err = path + ": certificate #" + std::to_string(out.size() + 1) +
          " is not valid PEM/X.509: " + take_ossl_error();
    return false;
  }
}

// Never prompt on the terminal for a pass phrase: note that one was wanted
// and fail the read.
int refuse_passphrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

PkeyPtr read_key(const std::string& path, const std::string& text, std::string& err) {
  BioPtr bio = mem_bio(text);
  if (!bio) {
    err = path + ": " + take_ossl_error("out of memory");
    return nullptr;
  }
  ERR_clear_error();
  bool asked = false;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked));
  if (key) return key;
  if (asked) {
    ERR_clear_error();
    err = path + ": the private key is encrypted; gatehouse needs it unencrypted "
                 "(openssl pkey -in KEY -out PLAIN_KEY)";
  } else if (pem_ran_out() || text.find("PRIVATE KEY-----") == std::string::npos) {
    // OpenSSL 3's decoder reports "unsupported" for a file without any key
    // block (say, a certificate given as key_file): look for one ourselves.
    ERR_clear_error();
    err = path + ": no PEM private key found (expected a -----BEGIN PRIVATE KEY----- block)";
  } else {
    err = path + ": private key is not valid PEM: " + take_ossl_error();
  }
  return nullptr;
}

void lower_ascii(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

// A name that could appear in SNI: no NUL, space or control bytes.
bool plausible_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::optional<CertKey> load_cert_key(const std::string& cert_file, const std::string& key_file,
                                     std::string& err) {
  std::string cert_text, key_text;
  if (!read_small_file(cert_file, cert_text, err)) return std::nullopt;
  std::vector<X509Ptr> certs;
  if (!read_certs(cert_file, cert_text, certs, err)) return std::nullopt;
  if (key_file == cert_file) {
    key_text = cert_text;
  } else if (!read_small_file(key_file, key_text, err)) {
    return std::nullopt;
  }
  PkeyPtr key = read_key(key_file, key_text, err);
  if (!key) return std::nullopt;

  if (X509_check_private_key(certs[0].get(), key.get()) != 1) {
    ERR_clear_error();
    // A chain in the wrong order gives the same mismatch; say what to fix.
    for (size_t i = 1; i < certs.size(); ++i) {
      if (X509_check_private_key(certs[i].get(), key.get()) == 1) {
        err = cert_file + ": the certificate matching " + key_file + " is #" +
              std::to_string(i + 1) + " in the file; it must come first, before its chain";
        return std::nullopt;
      }
      ERR_clear_error();
    }
    err = key_file + ": private key does not match the certificate in " + cert_file;
    return std::nullopt;
  }
  CertKey ck;
  ck.key = std::move(key);
  ck.cert = std::move(certs[0]);
  for (size_t i = 1; i < certs.size(); ++i) ck.chain.push_back(std::move(certs[i]));
  return ck;
}

bool install_cert_key(SSL_CTX* ctx, const CertKey& ck, const std::string& cert_file,
                      std::string& err) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate(ctx, ck.cert.get()) != 1) {
    err = cert_file + ": certificate rejected: " + take_ossl_error();
    return false;
  }
  if (SSL_CTX_use_PrivateKey(ctx, ck.key.get()) != 1) {
    err = cert_file + ": private key rejected: " + take_ossl_error();
    return false;
  }
  SSL_CTX_clear_chain_certs(ctx);
  for (const X509Ptr& c : ck.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, c.get()) != 1) {
      err = cert_file + ": chain certificate rejected: " + take_ossl_error();
      return false;
    }
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    err = cert_file + ": private key does not match: " + take_ossl_error();
    return false;
  }
  return true;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  if (cert == nullptr) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_STRING* s = gn->d.dNSName;
      std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
      if (!plausible_dns_name(name)) continue;
      lower_ascii(name);
      names.push_back(std::move(name));
    }
    GENERAL_NAMES_free(sans);
  }
  ERR_clear_error();  // a malformed extension leaves decode errors behind
  if (!names.empty()) return names;

  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (idx >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len > 0) {
      std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      if (plausible_dns_name(cn)) {
        lower_ascii(cn);
        names.push_back(std::move(cn));
      }
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
  }
  return names;
}

bool check_ca_file(const std::string& path, std::string& err) {
  std::string text;
  if (!read_small_file(path, text, err)) return false;
  std::vector<X509Ptr> certs;
  return read_certs(path, text, certs, err);
}

}  // namespace gh::tls
