// ACME keys and certificates: the CSR's contents, the tls-alpn-01
// certificate's extension bytes (RFC 8737 3), private key files (0600, whole
// or not at all) and the validity of an issued chain.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>

#include "acme/keys.h"
#include "temp_dir.h"

using namespace gh::acme;

namespace {

std::vector<std::string> dns_names(const STACK_OF(GENERAL_NAME) * gens) {
  std::vector<std::string> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
    if (g->type != GEN_DNS) {
      out.push_back("(not DNS)");
      continue;
    }
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                     static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)));
  }
  return out;
}

std::string common_name(X509_NAME* name) {
  char buf[256] = {};
  return X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf) > 0 ? buf : "";
}

TEST(AcmeKeys, CsrNamesEveryDomainAndIsSignedByTheKey) {
  PkeyPtr key = generate_ec_key();
  std::string err;
  auto der = make_csr({"app.example.com", "www.example.com"}, key.get(), err);
  ASSERT_TRUE(der) << err;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  ASSERT_TRUE(req);
  EXPECT_EQ(p, reinterpret_cast<const unsigned char*>(der->data()) + der->size());   // nothing trailing
  EXPECT_EQ(X509_REQ_verify(req, key.get()), 1);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req);
  EXPECT_EQ(EVP_PKEY_eq(pub, key.get()), 1);
  EXPECT_EQ(common_name(X509_REQ_get_subject_name(req)), "app.example.com");
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  ASSERT_TRUE(exts);
  auto* gens = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_TRUE(gens);
  EXPECT_EQ(dns_names(gens), (std::vector<std::string>{"app.example.com", "www.example.com"}));
  GENERAL_NAMES_free(gens);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
}

TEST(AcmeKeys, CsrWithAnOverlongFirstNameHasNoCommonName) {
  PkeyPtr key = generate_ec_key();
  const std::string longname = std::string(60, 'a') + ".example.com";   // 72 bytes > 64
  std::string err;
  auto der = make_csr({longname}, key.get(), err);
  ASSERT_TRUE(der) << err;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  ASSERT_TRUE(req);
  EXPECT_EQ(common_name(X509_REQ_get_subject_name(req)), "");
  X509_REQ_free(req);
}

TEST(AcmeKeys, CsrNeedsDomainsAndAKey) {
  PkeyPtr key = generate_ec_key();
  std::string err;
  EXPECT_FALSE(make_csr({}, key.get(), err));
  EXPECT_NE(err.find("no domains"), std::string::npos);
  EXPECT_FALSE(make_csr({"a.example"}, nullptr, err));
}

// RFC 8737 3: SAN = the domain only; id-pe-acmeIdentifier critical, its
// extnValue the DER OCTET STRING (04 20) of SHA-256(key authorization).
TEST(AcmeKeys, TlsAlpn01CertificateCarriesTheKeyAuthorizationDigest) {
  const std::string ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
  std::string err;
  auto c = make_tls_alpn01_certificate("app.example.com", ka, err);
  ASSERT_TRUE(c) << err;
  X509* x = c->cert.get();
  EXPECT_EQ(X509_verify(x, c->key.get()), 1);   // self-signed with its own key
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), c->key.get()), 1);

  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  const int at = X509_get_ext_by_OBJ(x, oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(at, 0);
  X509_EXTENSION* ext = X509_get_ext(x, at);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(ext);
  unsigned char expected[34] = {0x04, 0x20};
  SHA256(reinterpret_cast<const unsigned char*>(ka.data()), ka.size(), expected + 2);
  ASSERT_EQ(ASN1_STRING_length(v), 34);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)), 34),
            std::string(reinterpret_cast<const char*>(expected), 34));

  auto* gens = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_TRUE(gens);
  EXPECT_EQ(dns_names(gens), std::vector<std::string>{"app.example.com"});
  GENERAL_NAMES_free(gens);

  // Valid now, and the PEM form reads back.
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(x)), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(x)), 0);
  EXPECT_NE(certificate_pem(x).find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST(AcmeKeys, TlsAlpn01DigestDependsOnTheKeyAuthorization) {
  std::string err;
  auto a = make_tls_alpn01_certificate("a.example", "token.one", err);
  auto b = make_tls_alpn01_certificate("a.example", "token.two", err);
  ASSERT_TRUE(a && b) << err;
  auto value = [](X509* x) {
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(X509_get_ext(x, X509_get_ext_by_OBJ(x, oid, -1)));
    ASN1_OBJECT_free(oid);
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)), ASN1_STRING_length(v));
  };
  EXPECT_NE(value(a->cert.get()), value(b->cert.get()));
}

TEST(AcmeKeys, PrivateKeyFileIsOwnerOnlyAndReadsBack) {
  gh::testing::TempDir dir("acme-keys");
  const std::string path = (dir / "account.key").string();
  PkeyPtr key = generate_ec_key();
  std::string err;
  const mode_t old = ::umask(0);   // even with a permissive umask
  const bool saved = save_private_key_file(path, key.get(), err);
  ::umask(old);
  ASSERT_TRUE(saved) << err;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  PkeyPtr back = load_private_key_file(path, err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(EVP_PKEY_eq(back.get(), key.get()), 1);

  // Replacing keeps 0600 and leaves no temp file behind.
  PkeyPtr other = generate_ec_key();
  ASSERT_TRUE(save_private_key_file(path, other.get(), err)) << err;
  back = load_private_key_file(path, err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(EVP_PKEY_eq(back.get(), other.get()), 1);
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(AcmeKeys, WriteIntoAMissingDirectoryFailsNamingThePath) {
  gh::testing::TempDir dir("acme-keys-missing");
  const std::string path = (dir / "no/such/dir/k.pem").string();
  std::string err;
  EXPECT_FALSE(write_private_file(path, "x", err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST(AcmeKeys, LoadRefusesWhatIsNotAKey) {
  std::string err;
  EXPECT_FALSE(load_private_key_pem("hello", err));
  EXPECT_FALSE(err.empty());
  gh::testing::TempDir dir("acme-keys-bad");
  const std::string path = dir.write("k.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  EXPECT_FALSE(load_private_key_file(path, err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_FALSE(load_private_key_file((dir / "absent.pem").string(), err));
  EXPECT_NE(err.find("absent.pem"), std::string::npos) << err;
}

// A leaf with known dates followed by another certificate: the leaf's count.
TEST(AcmeKeys, ChainValidityIsTheLeafs) {
  auto make = [](long from, long to) {
    PkeyPtr k = generate_ec_key();
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    ASN1_TIME_set(X509_getm_notBefore(x), from);
    ASN1_TIME_set(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, k.get());
    X509_sign(x, k.get(), EVP_sha256());
    std::string pem = certificate_pem(x);
    X509_free(x);
    return pem;
  };
  const long nb = 1767225600;        // 2026-01-01T00:00:00Z
  const long na = nb + 90 * 86400;   // + 90 days
  const std::string chain = make(nb, na) + make(1000, 2000000000);
  std::string err;
  auto v = parse_chain_validity(chain, err);
  ASSERT_TRUE(v) << err;
  EXPECT_EQ(std::chrono::system_clock::to_time_t(v->not_before), nb);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(v->not_after), na);
  EXPECT_FALSE(parse_chain_validity("not a certificate", err));
  EXPECT_NE(err.find("certificate chain"), std::string::npos) << err;
}

// A tls-alpn-01 certificate is a handy leaf: SAN = one name, its own key.
TEST(AcmeKeys, ChainMismatchChecksKeyAndNames) {
  std::string err;
  auto c = make_tls_alpn01_certificate("app.example.com", "t.k", err);
  ASSERT_TRUE(c) << err;
  const std::string pem = certificate_pem(c->cert.get());
  EXPECT_EQ(chain_mismatch(pem, c->key.get(), {"app.example.com"}), "");
  EXPECT_EQ(chain_mismatch(pem, c->key.get(), {"APP.example.com"}), "");   // DNS names ignore case
  EXPECT_EQ(chain_mismatch(pem, c->key.get(), {"app.example.com", "www.example.com"}),
            "the leaf does not cover www.example.com");
  PkeyPtr other = generate_ec_key();
  EXPECT_EQ(chain_mismatch(pem, other.get(), {"app.example.com"}), "the leaf is not for this key");
  EXPECT_EQ(chain_mismatch("junk", c->key.get(), {}), "no certificate in the chain");
}

}  // namespace
