// Certificates swapped while serving (ACME): a ServerContext built with
// ssl.acme picks up tls::LiveCertificates without being rebuilt, the ACME
// certificate wins for its names, a placeholder serves without cert_file,
// and a ClientHello offering acme-tls/1 gets the tls-alpn-01 certificate.
#include <gtest/gtest.h>

#include "tls/live_certificates.h"
#include "tls/server_context.h"
#include "tls_test_pki.h"

namespace gh::tls {
namespace {

using namespace testpki;

CertKey as_cert_key(Issued i) {
  CertKey ck;
  ck.cert = std::move(i.cert);
  ck.key = std::move(i.key);
  return ck;
}

struct Result {
  Handshake hs;
  std::string cn;
  std::string alpn;
};

// One in-memory handshake with `sni` (null: none), offering `alpn` (wire format, may be empty).
Result hello(ServerContext& s, const char* sni, std::string_view alpn = {}) {
  SslCtxPtr cctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(cctx.get(), SSL_VERIFY_NONE, nullptr);
  SslPtr c(SSL_new(cctx.get()));
  SslPtr sv(SSL_new(s.native_handle()));
  if (sni) SSL_set_tlsext_host_name(c.get(), sni);
  if (!alpn.empty())
    SSL_set_alpn_protos(c.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  Result r;
  r.hs = run_handshake(c.get(), sv.get());
  if (r.hs.ok) {
    r.cn = subject_cn(SSL_get0_peer_certificate(c.get()));
    r.alpn = std::string(ServerContext::alpn_selected(sv.get()));
  }
  return r;
}

class TlsLive : public ::testing::Test {
 protected:
  void SetUp() override {
    ssl.enabled = true;
    ssl.acme.emplace();
    ssl.acme->domains = {"live-a.test"};
  }
  void TearDown() override {
    LiveCertificates& live = LiveCertificates::process();
    for (const char* n : {"live-a.test", "live-b.test", "static.test"}) {
      live.remove_certificate(n);
      live.clear_challenge(n);
    }
  }
  std::shared_ptr<ServerContext> server(bool h2 = false) {
    std::string err;
    auto s = ServerContext::create(ssl, h2, err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  TempDir dir;
  Issued ca = make_ca("Live Root");
  config::Ssl ssl;
};

TEST_F(TlsLive, PlaceholderUntilIssuedThenTheAcmeCertificateWithoutARebuild) {
  auto s = server();
  ASSERT_TRUE(s);
  Result before = hello(*s, "live-a.test");
  ASSERT_TRUE(before.hs.ok) << before.hs.client_error << " / " << before.hs.server_error;
  EXPECT_EQ(before.cn, "gatehouse placeholder");
  std::string err;
  ASSERT_TRUE(LiveCertificates::process().set_certificate(
      as_cert_key(issue("acme-a", {"DNS:live-a.test"}, false, &ca)), "a", err))
      << err;
  EXPECT_EQ(hello(*s, "live-a.test").cn, "acme-a");
  // Unknown names and clients without SNI: the first ACME certificate, not the placeholder.
  EXPECT_EQ(hello(*s, "other.test").cn, "acme-a");
  EXPECT_EQ(hello(*s, nullptr).cn, "acme-a");
  // A renewal replaces it for the next handshake.
  ASSERT_TRUE(LiveCertificates::process().set_certificate(
      as_cert_key(issue("acme-a2", {"DNS:live-a.test"}, false, &ca)), "a2", err))
      << err;
  EXPECT_EQ(hello(*s, "live-a.test").cn, "acme-a2");
  EXPECT_EQ(hello(*s, "other.test").cn, "acme-a2");
}

TEST_F(TlsLive, AcmeCertificateWinsOverCertFileForItsNamesOnly) {
  auto d = dir.write_pair("static", issue("static", {"DNS:static.test", "DNS:live-b.test"}, false, &ca));
  ssl.cert_file = d.first;
  ssl.key_file = d.second;
  auto s = server(true);
  ASSERT_TRUE(s);
  EXPECT_EQ(hello(*s, "live-b.test").cn, "static");
  std::string err;
  ASSERT_TRUE(LiveCertificates::process().set_certificate(
      as_cert_key(issue("acme-b", {"DNS:live-b.test"}, false, &ca)), "b", err))
      << err;
  Result r = hello(*s, "live-b.test", std::string_view("\x02h2\x08http/1.1", 12));
  EXPECT_EQ(r.cn, "acme-b");
  EXPECT_EQ(r.alpn, "h2") << "the listener's ALPN list (h2) on the ACME context too";
  EXPECT_EQ(hello(*s, "static.test").cn, "static");
  EXPECT_EQ(hello(*s, nullptr).cn, "static") << "cert_file stays the default";
}

TEST_F(TlsLive, AcmeTlsOfferGetsTheChallengeCertificateOnlyForAPendingName) {
  auto s = server();
  ASSERT_TRUE(s);
  const std::string_view acme_tls("\x0a" "acme-tls/1", 11);
  // No challenge pending: only acme-tls/1 offered, nothing in common.
  EXPECT_FALSE(hello(*s, "live-a.test", acme_tls).hs.ok);
  std::string err;
  ASSERT_TRUE(LiveCertificates::process().set_challenge(
      "live-a.test", as_cert_key(issue("challenge", {"DNS:live-a.test"}, false, nullptr)), err))
      << err;
  Result r = hello(*s, "live-a.test", acme_tls);
  ASSERT_TRUE(r.hs.ok) << r.hs.client_error << " / " << r.hs.server_error;
  EXPECT_EQ(r.cn, "challenge");
  EXPECT_EQ(r.alpn, "acme-tls/1");
  // An ordinary client for the same name is not given the validation certificate.
  Result normal = hello(*s, "live-a.test", std::string_view("\x08http/1.1", 9));
  EXPECT_EQ(normal.cn, "gatehouse placeholder");
  EXPECT_EQ(normal.alpn, "http/1.1");
  // Another name offering acme-tls/1 gets nothing.
  EXPECT_FALSE(hello(*s, "live-b.test", acme_tls).hs.ok);
  LiveCertificates::process().clear_challenge("live-a.test");
  EXPECT_FALSE(hello(*s, "live-a.test", acme_tls).hs.ok);
}

TEST_F(TlsLive, WithoutAcmeTheLiveCertificatesAreNotLookedAt) {
  auto d = dir.write_pair("static", issue("static", {"DNS:static.test"}, false, &ca));
  ssl.cert_file = d.first;
  ssl.key_file = d.second;
  ssl.acme.reset();
  auto s = server();
  ASSERT_TRUE(s);
  std::string err;
  ASSERT_TRUE(LiveCertificates::process().set_certificate(
      as_cert_key(issue("acme-s", {"DNS:static.test"}, false, &ca)), "s", err));
  EXPECT_EQ(hello(*s, "static.test").cn, "static");
}

}  // namespace
}  // namespace gh::tls
