// OCSP stapling: the responder URL, the request, and the check of
// responses made here with OpenSSL (good, revoked, unknown, wrong signer,
// delegated responder, stale, malformed); then a staple reaching a client.
#include <gtest/gtest.h>
#include <openssl/ocsp.h>

#include "tls/ocsp_response.h"
#include "tls/ocsp_stapler.h"
#include "tls_test_pki.h"

namespace gh::tls {
namespace tls_ocsp_test {

using namespace testpki;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A leaf with an AIA OCSP URL (and a caIssuers one, which must be ignored).
Issued leaf_with_ocsp(const Issued& ca, const std::string& aia) {
  Issued leaf = issue("leaf", {"DNS:leaf.test"}, false, &ca);
  add_ext(leaf.cert.get(), ca.cert.get(), NID_info_access, aia);
  X509_sign(leaf.cert.get(), ca.key.get(), EVP_sha256());
  return leaf;
}

struct ResponseSpec {
  int status = V_OCSP_CERTSTATUS_GOOD;
  long this_update_s = -60;     // relative to now
  long next_update_s = 3600;    // 0: none
  int response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
  bool add_signer_cert = false;
};

// A DER OCSP response about `leaf`/`issuer`, signed by `signer`.
std::string response(X509* leaf, X509* issuer, const Issued& signer, const ResponseSpec& spec = {}) {
  if (spec.response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    OCSP_RESPONSE* r = OCSP_response_create(spec.response_status, nullptr);
    unsigned char* out = nullptr;
    int n = i2d_OCSP_RESPONSE(r, &out);
    std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    OCSP_RESPONSE_free(r);
    return der;
  }
  OCSP_BASICRESP* bs = OCSP_BASICRESP_new();
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf, issuer);
  ASN1_TIME* thisupd = X509_gmtime_adj(nullptr, spec.this_update_s);
  ASN1_TIME* nextupd = spec.next_update_s ? X509_gmtime_adj(nullptr, spec.next_update_s) : nullptr;
  ASN1_TIME* revtime = X509_gmtime_adj(nullptr, -7200);
  OCSP_basic_add1_status(bs, id, spec.status, OCSP_REVOKED_STATUS_KEYCOMPROMISE,
                         spec.status == V_OCSP_CERTSTATUS_REVOKED ? revtime : nullptr, thisupd, nextupd);
  EXPECT_EQ(OCSP_basic_sign(bs, signer.cert.get(), signer.key.get(), EVP_sha256(), nullptr,
                            spec.add_signer_cert ? 0 : OCSP_NOCERTS),
            1);
  OCSP_RESPONSE* r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
  unsigned char* out = nullptr;
  int n = i2d_OCSP_RESPONSE(r, &out);
  std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  OCSP_RESPONSE_free(r);
  OCSP_BASICRESP_free(bs);
  OCSP_CERTID_free(id);
  ASN1_TIME_free(thisupd);
  ASN1_TIME_free(nextupd);
  ASN1_TIME_free(revtime);
  return der;
}

class TlsOcsp : public ::testing::Test {
 protected:
  Issued ca = make_ca("OCSP Test CA");
  Issued leaf = leaf_with_ocsp(ca, "caIssuers;URI:http://ca.test/ca.crt,OCSP;URI:http://127.0.0.1:9/ocsp");
};

TEST_F(TlsOcsp, ResponderUrlIsTheHttpOcspEntry) {
  EXPECT_EQ(ocsp_responder_url(leaf.cert.get()), "http://127.0.0.1:9/ocsp");
  EXPECT_EQ(ocsp_responder_url(ca.cert.get()), "") << "no AIA";
  Issued https_only = leaf_with_ocsp(ca, "OCSP;URI:https://ocsp.test/");
  EXPECT_EQ(ocsp_responder_url(https_only.cert.get()), "");
  EXPECT_EQ(ocsp_responder_url(nullptr), "");
}

TEST_F(TlsOcsp, RequestNamesTheCertificate) {
  std::string der = ocsp_request_der(leaf.cert.get(), ca.cert.get());
  ASSERT_FALSE(der.empty());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OCSP_REQUEST* req = d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(req, nullptr);
  ASSERT_EQ(OCSP_request_onereq_count(req), 1);
  OCSP_CERTID* want = OCSP_cert_to_id(EVP_sha1(), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)), want), 0);
  OCSP_CERTID_free(want);
  OCSP_REQUEST_free(req);
}

TEST_F(TlsOcsp, GoodSignedByTheIssuer) {
  OcspCheck c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::good) << c.why;
  EXPECT_NEAR(static_cast<double>(c.next_update), static_cast<double>(std::time(nullptr) + 3600), 5);
  EXPECT_NEAR(static_cast<double>(c.this_update), static_cast<double>(std::time(nullptr) - 60), 5);
  ResponseSpec no_next;
  no_next.next_update_s = 0;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, no_next), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::good) << c.why;
  EXPECT_EQ(c.next_update, 0);
}

TEST_F(TlsOcsp, DelegatedResponderNeedsOcspSigningFromTheIssuer) {
  Issued responder = issue("responder", {}, false, &ca);
  X509_EXTENSION_free(X509_delete_ext(responder.cert.get(),
                                      X509_get_ext_by_NID(responder.cert.get(), NID_ext_key_usage, -1)));
  add_ext(responder.cert.get(), ca.cert.get(), NID_ext_key_usage, "OCSPSigning");
  X509_sign(responder.cert.get(), ca.key.get(), EVP_sha256());
  ResponseSpec with_cert;
  with_cert.add_signer_cert = true;
  OcspCheck c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), responder, with_cert),
                                    leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::good) << c.why;

  // A certificate of the same CA without the OCSPSigning purpose may not answer.
  Issued other = issue("other", {"DNS:other.test"}, false, &ca);
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), other, with_cert), leaf.cert.get(),
                          ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_TRUE(contains(c.why, "signature does not verify")) << c.why;
}

TEST_F(TlsOcsp, RefusesWhatMustNotBeStapled) {
  Issued rogue = make_ca("Rogue CA");
  ResponseSpec with_cert;
  with_cert.add_signer_cert = true;
  OcspCheck c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), rogue, with_cert),
                                    leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_TRUE(contains(c.why, "signature does not verify")) << c.why;

  ResponseSpec revoked;
  revoked.status = V_OCSP_CERTSTATUS_REVOKED;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, revoked), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::revoked);
  EXPECT_TRUE(contains(c.why, "revoked (keyCompromise)")) << c.why;

  ResponseSpec unknown;
  unknown.status = V_OCSP_CERTSTATUS_UNKNOWN;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, unknown), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::unknown);

  ResponseSpec expired;
  expired.this_update_s = -7200;
  expired.next_update_s = -3600;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, expired), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_TRUE(contains(c.why, "outside its validity")) << c.why;

  ResponseSpec future;
  future.this_update_s = 3600;
  future.next_update_s = 7200;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, future), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);

  ResponseSpec try_later;
  try_later.response_status = OCSP_RESPONSE_STATUS_TRYLATER;
  c = check_ocsp_response(response(leaf.cert.get(), ca.cert.get(), ca, try_later), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_TRUE(contains(c.why, "the responder answered trylater")) << c.why;

  // About another certificate of the same CA.
  Issued other = issue("other", {"DNS:other.test"}, false, &ca);
  c = check_ocsp_response(response(other.cert.get(), ca.cert.get(), ca), leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_TRUE(contains(c.why, "no status for this certificate")) << c.why;

  std::string good = response(leaf.cert.get(), ca.cert.get(), ca);
  for (size_t cut : {size_t{0}, size_t{1}, good.size() / 2, good.size() - 1}) {
    c = check_ocsp_response(std::string_view(good).substr(0, cut), leaf.cert.get(), ca.cert.get());
    EXPECT_EQ(c.status, OcspCheck::Status::invalid) << cut;
  }
  std::string flipped = good;
  flipped[flipped.size() - 5] ^= 0x40;  // inside the signature
  c = check_ocsp_response(flipped, leaf.cert.get(), ca.cert.get());
  EXPECT_EQ(c.status, OcspCheck::Status::invalid);
  EXPECT_EQ(check_ocsp_response(good, leaf.cert.get(), nullptr).status, OcspCheck::Status::invalid);
  EXPECT_EQ(ERR_peek_error(), 0u) << "error queue left dirty";
}

TEST_F(TlsOcsp, StaplingNeedsAResponderAndTheIssuerInTheChain) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  ASSERT_EQ(SSL_CTX_use_certificate(ctx.get(), ca.cert.get()), 1);
  EXPECT_FALSE(enable_ocsp_stapling(ctx.get(), "ca.pem")) << "no responder URL";

  SslCtxPtr no_chain(SSL_CTX_new(TLS_server_method()));
  ASSERT_EQ(SSL_CTX_use_certificate(no_chain.get(), leaf.cert.get()), 1);
  EXPECT_FALSE(enable_ocsp_stapling(no_chain.get(), "leaf.pem")) << "issuer not in the chain";

  // With the issuer in the chain a watch starts (the responder at port 9
  // refuses; the staple stays empty and the handshake is unaffected).
  SslCtxPtr with_chain(SSL_CTX_new(TLS_server_method()));
  ASSERT_EQ(SSL_CTX_use_certificate(with_chain.get(), leaf.cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(with_chain.get(), leaf.key.get()), 1);
  ASSERT_EQ(SSL_CTX_add1_chain_cert(with_chain.get(), ca.cert.get()), 1);
  EXPECT_TRUE(enable_ocsp_stapling(with_chain.get(), "leaf.pem"));
  EXPECT_EQ(ocsp_staple_for(with_chain.get()), "");

  SslCtxPtr client(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(client.get(), SSL_VERIFY_NONE, nullptr);
  SslPtr c(SSL_new(client.get())), s(SSL_new(with_chain.get()));
  SSL_set_tlsext_status_type(c.get(), TLSEXT_STATUSTYPE_ocsp);
  Handshake h = run_handshake(c.get(), s.get());
  EXPECT_TRUE(h.ok) << h.client_error << " / " << h.server_error;
  const unsigned char* resp = nullptr;
  EXPECT_EQ(SSL_get_tlsext_status_ocsp_resp(c.get(), &resp), -1) << "no staple sent";
}

}  // namespace tls_ocsp_test
}  // namespace gh::tls
