// Front-side TLS: certificate loading and checks, SNI selection, protocol
// floor, ciphers, ALPN and ticket resumption, with throwaway certificates.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/certificates.h"
#include "tls/server_context.h"
#include "tls/sni_map.h"
#include "tls/ticket_keys.h"
#include "tls_test_pki.h"

namespace gh::tls {
namespace tls_server_test {

using namespace testpki;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- SniMap ---------------------------------------------------------------

TEST(TlsSniMap, ExactAndWildcard) {
  SniMap m;
  EXPECT_TRUE(m.add("www.example.org", 1));
  EXPECT_TRUE(m.add("*.Example.com", 2));
  EXPECT_EQ(m.find("www.example.org"), 1u);
  EXPECT_EQ(m.find("WWW.Example.ORG"), 1u);
  EXPECT_EQ(m.find("www.example.org."), 1u);
  EXPECT_EQ(m.find("a.example.com"), 2u);
  EXPECT_EQ(m.find("A.EXAMPLE.COM"), 2u);
  EXPECT_EQ(m.find("a.b.example.com"), std::nullopt);
  EXPECT_EQ(m.find("example.com"), std::nullopt);
  EXPECT_EQ(m.find(".example.com"), std::nullopt);
  EXPECT_EQ(m.find("other.org"), std::nullopt);
  EXPECT_EQ(m.find(""), std::nullopt);
}

TEST(TlsSniMap, ExactBeatsWildcardAndFirstWins) {
  SniMap m;
  m.add("*.example.com", 1);
  m.add("api.example.com", 2);
  m.add("api.example.com", 3);
  m.add("*.example.com", 4);
  EXPECT_EQ(m.find("api.example.com"), 2u);
  EXPECT_EQ(m.find("web.example.com"), 1u);
}

TEST(TlsSniMap, RefusesOddWildcards) {
  SniMap m;
  EXPECT_FALSE(m.add("", 1));
  EXPECT_FALSE(m.add("*", 1));
  EXPECT_FALSE(m.add("*.", 1));
  EXPECT_FALSE(m.add("w*.example.com", 1));
  EXPECT_FALSE(m.add("*.*.example.com", 1));
  EXPECT_TRUE(m.empty());
}

// ---- loading and checking files --------------------------------------------

class TlsFiles : public ::testing::Test {
 protected:
  TempDir dir;
  Issued ca = make_ca("Test Root");
};

TEST_F(TlsFiles, LoadsPairWithChain) {
  Issued inter = issue("Test Intermediate", {}, true, &ca);
  Issued leaf = issue("leaf", {"DNS:Leaf.Example.com", "DNS:*.leaf.example.com"}, false, &inter);
  auto [cert, key] = dir.write_pair("leaf", leaf, {&inter});
  std::string err;
  auto ck = load_cert_key(cert, key, err);
  ASSERT_TRUE(ck) << err;
  EXPECT_EQ(ck->chain.size(), 1u);
  EXPECT_EQ(dns_names(ck->cert.get()),
            (std::vector<std::string>{"leaf.example.com", "*.leaf.example.com"}));
}

TEST_F(TlsFiles, CertAndKeyInOneFile) {
  Issued leaf = issue("one", {"DNS:one.test"}, false, &ca);
  std::string both = dir.write("both.pem", key_pem(leaf.key.get()) + cert_pem(leaf.cert.get()));
  std::string err;
  EXPECT_TRUE(load_cert_key(both, both, err)) << err;
}

TEST_F(TlsFiles, CommonNameWhenNoSubjectAltName) {
  Issued leaf = issue("Legacy.Example.net", {}, false, &ca);
  EXPECT_EQ(dns_names(leaf.cert.get()), std::vector<std::string>{"legacy.example.net"});
}

TEST_F(TlsFiles, MismatchedKeyNamesTheKeyFile) {
  Issued a = issue("a", {"DNS:a.test"}, false, &ca);
  Issued b = issue("b", {"DNS:b.test"}, false, &ca);
  std::string cert = dir.write("a.pem", cert_pem(a.cert.get()));
  std::string key = dir.write("b.key", key_pem(b.key.get()));
  std::string err;
  EXPECT_FALSE(load_cert_key(cert, key, err));
  EXPECT_TRUE(contains(err, key + ": private key does not match the certificate in " + cert)) << err;
}

TEST_F(TlsFiles, ChainInWrongOrderIsExplained) {
  Issued inter = issue("Inter", {}, true, &ca);
  Issued leaf = issue("leaf", {"DNS:x.test"}, false, &inter);
  std::string cert = dir.write("x.pem", cert_pem(inter.cert.get()) + cert_pem(leaf.cert.get()));
  std::string key = dir.write("x.key", key_pem(leaf.key.get()));
  std::string err;
  EXPECT_FALSE(load_cert_key(cert, key, err));
  EXPECT_TRUE(contains(err, cert + ": the certificate matching")) << err;
  EXPECT_TRUE(contains(err, "must come first")) << err;
}

TEST_F(TlsFiles, MissingFileIsNamed) {
  Issued leaf = issue("a", {"DNS:a.test"}, false, &ca);
  auto [cert, key] = dir.write_pair("a", leaf);
  std::string missing = dir.path() + "/nope.pem";
  std::string err;
  EXPECT_FALSE(load_cert_key(missing, key, err));
  EXPECT_EQ(err, missing + ": cannot open: No such file or directory");
  EXPECT_FALSE(load_cert_key(cert, dir.path() + "/nope.key", err));
  EXPECT_TRUE(contains(err, "nope.key: cannot open")) << err;
}

TEST_F(TlsFiles, UnreadableFileIsNamed) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  Issued leaf = issue("a", {"DNS:a.test"}, false, &ca);
  auto [cert, key] = dir.write_pair("a", leaf);
  ASSERT_EQ(::chmod(key.c_str(), 0), 0);
  std::string err;
  EXPECT_FALSE(load_cert_key(cert, key, err));
  EXPECT_EQ(err, key + ": cannot open: Permission denied");
}

TEST_F(TlsFiles, DirectoryAndGarbageAndEmpty) {
  Issued leaf = issue("a", {"DNS:a.test"}, false, &ca);
  auto [cert, key] = dir.write_pair("a", leaf);
  std::string err;
  EXPECT_FALSE(load_cert_key(dir.path(), key, err));
  EXPECT_EQ(err, dir.path() + ": not a regular file");

  std::string junk = dir.write("junk.pem", "hello, I am not a certificate\n");
  EXPECT_FALSE(load_cert_key(junk, key, err));
  EXPECT_TRUE(contains(err, junk + ": no PEM certificate found")) << err;

  std::string empty = dir.write("empty.pem", "");
  EXPECT_FALSE(load_cert_key(empty, key, err));
  EXPECT_TRUE(contains(err, empty + ": no PEM certificate found")) << err;

  std::string broken = dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA%%%%\n-----END CERTIFICATE-----\n");
  EXPECT_FALSE(load_cert_key(broken, key, err));
  EXPECT_TRUE(contains(err, broken + ": certificate #1 is not valid")) << err;

  // A certificate where the key should be.
  EXPECT_FALSE(load_cert_key(cert, cert, err));
  EXPECT_TRUE(contains(err, cert + ": no PEM private key found")) << err;

  std::string bad_key = dir.write("bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  EXPECT_FALSE(load_cert_key(cert, bad_key, err));
  EXPECT_TRUE(contains(err, bad_key + ": private key is not valid PEM")) << err;
  EXPECT_EQ(ERR_peek_error(), 0u) << "error queue left dirty";
}

TEST_F(TlsFiles, EncryptedKeyRefusedWithoutPrompt) {
  Issued leaf = issue("a", {"DNS:a.test"}, false, &ca);
  std::string cert = dir.write("a.pem", cert_pem(leaf.cert.get()));
  std::string key = dir.write("a.key", key_pem(leaf.key.get(), "secret"));
  std::string err;
  EXPECT_FALSE(load_cert_key(cert, key, err));
  EXPECT_TRUE(contains(err, key + ": the private key is encrypted")) << err;
}

TEST_F(TlsFiles, CaFile) {
  std::string err;
  std::string good = dir.write("ca.pem", cert_pem(ca.cert.get()));
  EXPECT_TRUE(check_ca_file(good, err)) << err;
  std::string junk = dir.write("junk.pem", "nothing here");
  EXPECT_FALSE(check_ca_file(junk, err));
  EXPECT_TRUE(contains(err, junk + ": no PEM certificate found")) << err;
  EXPECT_FALSE(check_ca_file(dir.path() + "/missing.pem", err));
  EXPECT_TRUE(contains(err, "missing.pem: cannot open")) << err;
}

// ---- ServerContext ----------------------------------------------------------

// A server with three certificates: default (default.test), an exact name
// (www.example.org) and a wildcard (*.example.com).
class TlsServer : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = dir.write_pair("default", issue("default", {"DNS:default.test"}, false, &ca));
    auto e = dir.write_pair("exact", issue("exact", {"DNS:www.example.org"}, false, &ca));
    auto w = dir.write_pair("wild", issue("wild", {"DNS:*.example.com"}, false, &ca));
    ssl.enabled = true;
    ssl.cert_file = d.first;
    ssl.key_file = d.second;
    ssl.certificates.push_back(config::CertPair{e.first, e.second, {}});
    ssl.certificates.push_back(config::CertPair{w.first, w.second, {}});
    ca_file = dir.write("ca.pem", cert_pem(ca.cert.get()));
  }

  std::shared_ptr<ServerContext> server(bool h2 = false) {
    std::string err;
    auto s = ServerContext::create(ssl, h2, err);
    EXPECT_TRUE(s) << err;
    return s;
  }

  // A bare OpenSSL client: no verification unless asked, TLS 1.2+ unless told otherwise.
  static SslCtxPtr client_ctx() {
    SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
    return c;
  }

  struct Conn {
    SslPtr client, server;
    Handshake hs;
  };
  static Conn connect(SSL_CTX* cctx, ServerContext& s, const char* sni,
                      SSL_SESSION* resume = nullptr) {
    Conn c{SslPtr(SSL_new(cctx)), SslPtr(SSL_new(s.asio_context().native_handle())), {}};
    if (sni) SSL_set_tlsext_host_name(c.client.get(), sni);
    if (resume) SSL_set_session(c.client.get(), resume);
    c.hs = run_handshake(c.client.get(), c.server.get());
    return c;
  }
  static std::string served_cn(SSL_CTX* cctx, ServerContext& s, const char* sni) {
    Conn c = connect(cctx, s, sni);
    EXPECT_TRUE(c.hs.ok) << c.hs.client_error << " / " << c.hs.server_error;
    return subject_cn(SSL_get0_peer_certificate(c.client.get()));
  }

  TempDir dir;
  Issued ca = make_ca("Test Root");
  config::Ssl ssl;
  std::string ca_file;
};

TEST_F(TlsServer, PicksCertificateBySni) {
  auto s = server();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->certificate_count(), 3u);
  auto c = client_ctx();
  EXPECT_EQ(served_cn(c.get(), *s, "www.example.org"), "exact");
  EXPECT_EQ(served_cn(c.get(), *s, "WWW.EXAMPLE.ORG"), "exact");
  EXPECT_EQ(served_cn(c.get(), *s, "a.example.com"), "wild");
  EXPECT_EQ(served_cn(c.get(), *s, "A.Example.Com"), "wild");
  EXPECT_EQ(served_cn(c.get(), *s, "a.b.example.com"), "default");
  EXPECT_EQ(served_cn(c.get(), *s, "example.com"), "default");
  EXPECT_EQ(served_cn(c.get(), *s, "unknown.test"), "default");
  EXPECT_EQ(served_cn(c.get(), *s, "default.test"), "default");
  EXPECT_EQ(served_cn(c.get(), *s, nullptr), "default");
}

TEST_F(TlsServer, SniSurvivesHelloRetryRequest) {
  auto s = server();
  ASSERT_TRUE(s);
  // The client's first key share (P-521) is not one we accept: the server
  // asks again (HelloRetryRequest) and must still serve the SNI certificate.
  auto c = client_ctx();
  ASSERT_EQ(SSL_CTX_set1_groups_list(c.get(), "P-521:X25519"), 1);
  EXPECT_EQ(served_cn(c.get(), *s, "www.example.org"), "exact");
  EXPECT_EQ(served_cn(c.get(), *s, "z.example.com"), "wild");
}

TEST_F(TlsServer, CertificateForMatchesHandshakes) {
  auto s = server();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->certificate_for(""), 0u);
  EXPECT_EQ(s->certificate_for("www.example.org"), 1u);
  EXPECT_EQ(s->certificate_for("x.example.com"), 2u);
  EXPECT_EQ(s->certificate_for("x.y.example.com"), 0u);
  EXPECT_EQ(s->certificate_for(std::string_view("\0\xff", 2)), 0u);
}

TEST_F(TlsServer, ServerNameAfterHandshake) {
  auto s = server();
  ASSERT_TRUE(s);
  auto c = client_ctx();
  Conn conn = connect(c.get(), *s, "a.example.com");
  ASSERT_TRUE(conn.hs.ok);
  EXPECT_EQ(ServerContext::server_name(conn.server.get()), "a.example.com");
  Conn none = connect(c.get(), *s, nullptr);
  ASSERT_TRUE(none.hs.ok);
  EXPECT_EQ(ServerContext::server_name(none.server.get()), "");
}

TEST_F(TlsServer, SendsFullChainThatVerifies) {
  Issued inter = issue("Intermediate", {}, true, &ca);
  auto p = dir.write_pair("chained", issue("chained", {"DNS:chained.test"}, false, &inter), {&inter});
  ssl.certificates.push_back(config::CertPair{p.first, p.second, {}});
  auto s = server();
  ASSERT_TRUE(s);
  // The client trusts the root only: the intermediate must come from the server.
  SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
  ASSERT_EQ(SSL_CTX_load_verify_locations(c.get(), ca_file.c_str(), nullptr), 1);
  Conn conn = connect(c.get(), *s, "chained.test");
  ASSERT_TRUE(conn.hs.ok) << conn.hs.client_error;
  EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(conn.client.get())), 2);
  EXPECT_EQ(SSL_get_verify_result(conn.client.get()), X509_V_OK);
}

TEST_F(TlsServer, RejectsBadFilesNamingThem) {
  std::string err;
  config::Ssl bad = ssl;
  bad.key_file = ssl.certificates[0].key_file;  // key of another certificate
  EXPECT_FALSE(ServerContext::create(bad, err));
  EXPECT_TRUE(contains(err, bad.key_file + ": private key does not match")) << err;

  bad = ssl;
  bad.certificates[1].cert_file = dir.path() + "/gone.pem";
  EXPECT_FALSE(ServerContext::create(bad, err));
  EXPECT_TRUE(contains(err, "gone.pem: cannot open")) << err;

  bad = ssl;
  bad.cert_file.clear();
  EXPECT_FALSE(ServerContext::create(bad, err));
  EXPECT_TRUE(contains(err, "cert_file and key_file are required")) << err;
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsServer, RefusesOldProtocols) {
  auto s = server();
  ASSERT_TRUE(s);
  for (int v : {TLS1_VERSION, TLS1_1_VERSION}) {
    auto c = client_ctx();
    SSL_CTX_set_security_level(c.get(), 0);  // let the client even try
    SSL_CTX_set_min_proto_version(c.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(c.get(), v);
    SSL_CTX_set_cipher_list(c.get(), "DEFAULT:@SECLEVEL=0");
    Conn conn = connect(c.get(), *s, "default.test");
    EXPECT_FALSE(conn.hs.ok) << "version " << v;
    EXPECT_EQ(conn.hs.server_error, "unsupported protocol") << "version " << v;
  }
}

TEST_F(TlsServer, Tls12OnlyEcdheAead) {
  auto s = server();
  ASSERT_TRUE(s);
  auto c = client_ctx();
  SSL_CTX_set_max_proto_version(c.get(), TLS1_2_VERSION);
  Conn ok = connect(c.get(), *s, "default.test");
  ASSERT_TRUE(ok.hs.ok) << ok.hs.server_error;
  EXPECT_EQ(SSL_version(ok.client.get()), TLS1_2_VERSION);
  std::string cipher = SSL_get_cipher_name(ok.client.get());
  EXPECT_TRUE(contains(cipher, "ECDHE-")) << cipher;
  EXPECT_TRUE(contains(cipher, "GCM") || contains(cipher, "CHACHA20")) << cipher;

  // Static-RSA and CBC suites are not offered by the server.
  auto weak = client_ctx();
  SSL_CTX_set_max_proto_version(weak.get(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(weak.get(), "AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384");
  Conn bad = connect(weak.get(), *s, "default.test");
  EXPECT_FALSE(bad.hs.ok);
  EXPECT_EQ(bad.hs.server_error, "no shared cipher");
}

TEST_F(TlsServer, Tls13ByDefault) {
  auto s = server();
  ASSERT_TRUE(s);
  auto c = client_ctx();
  Conn conn = connect(c.get(), *s, "default.test");
  ASSERT_TRUE(conn.hs.ok);
  EXPECT_EQ(SSL_version(conn.server.get()), TLS1_3_VERSION);
}

TEST_F(TlsServer, SafeOptionsOnEveryContext) {
  auto s = server();
  ASSERT_TRUE(s);
  SSL_CTX* ctx = s->asio_context().native_handle();
  uint64_t o = SSL_CTX_get_options(ctx);
  EXPECT_TRUE(o & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(o & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(o & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_FALSE(o & SSL_OP_NO_TICKET);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  // The SNI-selected context gets the same settings.
  auto c = client_ctx();
  Conn conn = connect(c.get(), *s, "www.example.org");
  ASSERT_TRUE(conn.hs.ok);
  SSL_CTX* chosen = SSL_get_SSL_CTX(conn.server.get());
  EXPECT_NE(chosen, ctx);
  EXPECT_TRUE(SSL_CTX_get_options(chosen) & SSL_OP_NO_RENEGOTIATION);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(chosen), TLS1_2_VERSION);
}

TEST_F(TlsServer, ClientRenegotiationRefused) {
  auto s = server();
  ASSERT_TRUE(s);
  auto c = client_ctx();
  SSL_CTX_set_max_proto_version(c.get(), TLS1_2_VERSION);
  Conn conn = connect(c.get(), *s, "default.test");
  ASSERT_TRUE(conn.hs.ok);
  ASSERT_EQ(SSL_renegotiate(conn.client.get()), 1);
  SSL_do_handshake(conn.client.get());  // sends the new ClientHello
  char buf[16];
  ERR_clear_error();
  SSL_read(conn.server.get(), buf, sizeof buf);  // server answers no_renegotiation
  ERR_clear_error();
  int r = SSL_do_handshake(conn.client.get());
  EXPECT_NE(r, 1);
  EXPECT_EQ(SSL_renegotiate_pending(conn.client.get()), 1) << "renegotiation must not complete";
  ERR_clear_error();
}

// ---- ALPN ---------------------------------------------------------------------

std::string alpn_result(ServerContext& s, const std::vector<std::string>& offer, bool* ok = nullptr) {
  SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
  std::string wire;
  for (const std::string& p : offer) wire += static_cast<char>(p.size()) + p;
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(c.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  SslPtr cl(SSL_new(c.get()));
  SslPtr sv(SSL_new(s.asio_context().native_handle()));
  Handshake h = run_handshake(cl.get(), sv.get());
  if (ok) *ok = h.ok;
  return std::string(ServerContext::alpn_selected(sv.get()));
}

TEST_F(TlsServer, AlpnHttp11ByDefault) {
  auto s = server(false);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->offers_h2());
  EXPECT_EQ(alpn_result(*s, {"h2", "http/1.1"}), "http/1.1");
  EXPECT_EQ(alpn_result(*s, {"http/1.1"}), "http/1.1");
  bool ok = false;
  EXPECT_EQ(alpn_result(*s, {}, &ok), "");
  EXPECT_TRUE(ok) << "no ALPN at all is fine";
  alpn_result(*s, {"h2"}, &ok);
  EXPECT_FALSE(ok) << "only protocols we do not speak: no_application_protocol";
}

TEST_F(TlsServer, AlpnPrefersH2WhenOffered) {
  auto s = server(true);
  ASSERT_TRUE(s);
  EXPECT_EQ(alpn_result(*s, {"http/1.1", "h2"}), "h2");
  EXPECT_EQ(alpn_result(*s, {"http/1.1"}), "http/1.1");
  EXPECT_EQ(alpn_result(*s, {"spdy/3", "h2"}), "h2");
  // On the SNI-selected context too.
  SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
  const unsigned char wire[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(c.get(), wire, sizeof wire);
  Conn conn = connect(c.get(), *s, "a.example.com");
  ASSERT_TRUE(conn.hs.ok);
  EXPECT_EQ(ServerContext::alpn_selected(conn.server.get()), "h2");
  EXPECT_EQ(ServerContext::alpn_selected(nullptr), "");
}

// ---- resumption -----------------------------------------------------------------

class TlsResume : public TlsServer, public ::testing::WithParamInterface<int> {};

TEST_P(TlsResume, TicketResumesAcrossContextsAndReload) {
  auto s = server();
  ASSERT_TRUE(s);
  auto c = client_ctx();
  SSL_CTX_set_max_proto_version(c.get(), GetParam());
  Conn first = connect(c.get(), *s, "a.example.com");
  ASSERT_TRUE(first.hs.ok);
  EXPECT_EQ(SSL_session_reused(first.client.get()), 0);
  SSL_SESSION* sess = SSL_get1_session(first.client.get());
  ASSERT_NE(sess, nullptr);
  ASSERT_EQ(SSL_SESSION_is_resumable(sess), 1);

  Conn second = connect(c.get(), *s, "a.example.com", sess);
  ASSERT_TRUE(second.hs.ok);
  EXPECT_EQ(SSL_session_reused(second.client.get()), 1);
  EXPECT_EQ(SSL_session_reused(second.server.get()), 1);

  // Ticket keys are per process, not per context: a reloaded context resumes too.
  auto reloaded = server();
  Conn third = connect(c.get(), *reloaded, "a.example.com", sess);
  ASSERT_TRUE(third.hs.ok);
  EXPECT_EQ(SSL_session_reused(third.server.get()), 1);

  // Two rotations later the key that sealed the ticket is gone: full handshake.
  auto now = TicketKeys::Clock::now();
  TicketKeys::process().rotate(now);
  Conn fourth = connect(c.get(), *s, "a.example.com", sess);
  ASSERT_TRUE(fourth.hs.ok);
  EXPECT_EQ(SSL_session_reused(fourth.server.get()), 1) << "previous key still decrypts";
  TicketKeys::process().rotate(now);
  Conn fifth = connect(c.get(), *s, "a.example.com", sess);
  ASSERT_TRUE(fifth.hs.ok);
  EXPECT_EQ(SSL_session_reused(fifth.server.get()), 0);
  SSL_SESSION_free(sess);
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsResume, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const auto& info) { return info.param == TLS1_2_VERSION ? "tls12" : "tls13"; });

// ---- ticket keys ------------------------------------------------------------------

// Seals a 16-byte block as OpenSSL would and reports what decrypt() says later.
struct TicketProbe {
  TicketKeys& keys;
  unsigned char name[16];
  unsigned char iv[EVP_MAX_IV_LENGTH];
  std::string sealed;

  static EVP_MAC_CTX* new_mac() {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* m = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    return m;
  }
  int seal(TicketKeys::Clock::time_point now) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX* m = new_mac();
    int rc = keys.encrypt(name, iv, c, m, now);
    unsigned char out[64];
    int n = 0, f = 0;
    const unsigned char plain[16] = {'s', 'e', 's', 's', 'i', 'o', 'n'};
    EVP_EncryptUpdate(c, out, &n, plain, sizeof plain);
    EVP_EncryptFinal_ex(c, out + n, &f);
    sealed.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n + f));
    EVP_CIPHER_CTX_free(c);
    EVP_MAC_CTX_free(m);
    return rc;
  }
  // decrypt()'s verdict; when it found a key, the block must also open.
  int open(TicketKeys::Clock::time_point now) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX* m = new_mac();
    int rc = keys.decrypt(name, iv, c, m, now);
    if (rc > 0) {
      unsigned char out[64];
      int n = 0, f = 0;
      EVP_DecryptUpdate(c, out, &n, reinterpret_cast<const unsigned char*>(sealed.data()),
                        static_cast<int>(sealed.size()));
      EXPECT_EQ(EVP_DecryptFinal_ex(c, out + n, &f), 1);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 7), "session");
    }
    EVP_CIPHER_CTX_free(c);
    EVP_MAC_CTX_free(m);
    return rc;
  }
};

TEST(TlsTicketKeys, RotationKeepsPreviousKeyForOnePeriod) {
  using namespace std::chrono_literals;
  TicketKeys keys(60s);
  auto t0 = TicketKeys::Clock::now();
  TicketProbe p{keys, {}, {}, {}};
  ASSERT_EQ(p.seal(t0), 1);
  EXPECT_EQ(p.open(t0 + 30s), 1);   // current key
  EXPECT_EQ(p.open(t0 + 61s), 2);   // rotated: previous key, ask for a fresh ticket
  EXPECT_EQ(p.open(t0 + 119s), 2);
  EXPECT_EQ(p.open(t0 + 122s), 0);  // rotated twice: gone

  TicketProbe q{keys, {}, {}, {}};
  ASSERT_EQ(q.seal(t0 + 122s), 1);
  EXPECT_EQ(q.open(t0 + 1000s), 0) << "after a long idle spell no old key survives";
}

TEST(TlsTicketKeys, UnknownNameIsNotAnError) {
  TicketKeys keys;
  TicketProbe p{keys, {}, {}, {}};
  ASSERT_EQ(p.seal(TicketKeys::Clock::now()), 1);
  p.name[0] ^= 0xff;
  EXPECT_EQ(p.open(TicketKeys::Clock::now()), 0);
}

// ---- validate ----------------------------------------------------------------------

TEST_F(TlsServer, ValidateReportsEachBadFileAtItsNode) {
  config::Config cfg;
  cfg.file = "gatehouse.yaml";
  cfg.ssl = ssl;
  cfg.ssl.mark = {40, 3};
  EXPECT_TRUE(validate(cfg).empty());

  cfg.ssl.certificates[1].key_file = ssl.certificates[0].key_file;
  cfg.ssl.certificates[1].mark = {45, 7};
  config::Route r;
  r.ssl = true;
  r.mark = {10, 5};
  r.tls.ca_file = dir.path() + "/no-ca.pem";
  r.tls.cert_file = ssl.cert_file;  // key_file missing
  cfg.server.reverse_proxy.push_back(r);
  cfg.server.reverse_proxy.push_back(r);  // same problems: reported once

  auto errors = validate(cfg);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].line, 45);
  EXPECT_EQ(errors[0].col, 7);
  EXPECT_EQ(errors[0].file, "gatehouse.yaml");
  EXPECT_TRUE(contains(errors[0].message, "private key does not match")) << errors[0].message;
  EXPECT_EQ(errors[1].line, 10);
  EXPECT_TRUE(contains(errors[1].message, "no-ca.pem: cannot open")) << errors[1].message;
  EXPECT_TRUE(contains(errors[2].message, "cert_file and key_file must be given together"));

  cfg.ssl.enabled = false;  // files of a disabled block are not looked at
  cfg.server.reverse_proxy.clear();
  EXPECT_TRUE(validate(cfg).empty());
}

}  // namespace tls_server_test
}  // namespace gh::tls
