// Back-side TLS: verification against a CA file, host names and IP
// literals, SNI, verify:false, mTLS and client-side session resumption,
// each against a real ServerContext, in memory or over Asio streams.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls_test_pki.h"

namespace gh::tls {
namespace {

using namespace testpki;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class TlsClient : public ::testing::Test {
 protected:
  // The backend: a certificate for backend.test and 127.0.0.1, issued by `ca`.
  void SetUp() override {
    auto b = dir.write_pair("backend", issue("backend", {"DNS:backend.test", "IP:127.0.0.1"}, false, &ca));
    auto n = dir.write_pair("named", issue("named", {"DNS:internal.test"}, false, &ca));
    config::Ssl ssl;
    ssl.cert_file = b.first;
    ssl.key_file = b.second;
    ssl.certificates.push_back(config::CertPair{n.first, n.second, {}});
    std::string err;
    server = ServerContext::create(ssl, err);
    ASSERT_TRUE(server) << err;
    ca_file = dir.write("ca.pem", cert_pem(ca.cert.get()));
    other_ca_file = dir.write("other-ca.pem", cert_pem(other_ca.cert.get()));
    tls.ca_file = ca_file;
  }

  std::shared_ptr<ClientContext> client() {
    std::string err;
    auto c = ClientContext::create(tls, err);
    EXPECT_TRUE(c) << err;
    return c;
  }

  struct Conn {
    SslPtr client, server;
    Handshake hs;
  };
  // A connection to `host`:`port` through `cc`; `mtls`: the server asks for
  // (and insists on) a client certificate, accepting any.
  Conn connect(const ClientContext& cc, const std::string& host, uint16_t port = 443,
               bool mtls = false) {
    Conn c{SslPtr(SSL_new(const_cast<ClientContext&>(cc).asio_context().native_handle())),
           SslPtr(SSL_new(server->asio_context().native_handle())), {}};
    EXPECT_TRUE(cc.prepare(c.client.get(), host, port));
    if (mtls) {
      SSL_set_verify(c.server.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     [](int, X509_STORE_CTX*) { return 1; });
    }
    c.hs = run_handshake(c.client.get(), c.server.get());
    return c;
  }

  TempDir dir;
  Issued ca = make_ca("Backend CA");
  Issued other_ca = make_ca("Some Other CA");
  std::shared_ptr<ServerContext> server;
  std::string ca_file, other_ca_file;
  config::UpstreamTls tls;
};

TEST_F(TlsClient, GoodCaAndNamePasses) {
  auto cc = client();
  ASSERT_TRUE(cc);
  EXPECT_TRUE(cc->verifies());
  Conn c = connect(*cc, "backend.test");
  ASSERT_TRUE(c.hs.ok) << c.hs.client_error;
  EXPECT_EQ(ClientContext::verify_error(c.client.get()), "");
  EXPECT_EQ(ServerContext::server_name(c.server.get()), "backend.test");
  // We ask backends for HTTP/1.1.
  EXPECT_EQ(ServerContext::alpn_selected(c.client.get()), "http/1.1");
}

TEST_F(TlsClient, WrongCaFails) {
  tls.ca_file = other_ca_file;
  auto cc = client();
  ASSERT_TRUE(cc);
  Conn c = connect(*cc, "backend.test");
  EXPECT_FALSE(c.hs.ok);
  EXPECT_EQ(c.hs.client_error, "certificate verify failed");
  EXPECT_EQ(ClientContext::verify_error(c.client.get()), "unable to get local issuer certificate");
}

TEST_F(TlsClient, WrongHostNameFails) {
  auto cc = client();
  ASSERT_TRUE(cc);
  Conn c = connect(*cc, "elsewhere.test");
  EXPECT_FALSE(c.hs.ok);
  EXPECT_EQ(ClientContext::verify_error(c.client.get()), "hostname mismatch");
}

TEST_F(TlsClient, VerifyFalsePassesAnything) {
  tls.ca_file = other_ca_file;
  tls.verify = false;
  auto cc = client();
  ASSERT_TRUE(cc);
  EXPECT_FALSE(cc->verifies());
  Conn c = connect(*cc, "elsewhere.test");
  ASSERT_TRUE(c.hs.ok) << c.hs.client_error;
  EXPECT_EQ(ClientContext::verify_error(c.client.get()), "");
}

TEST_F(TlsClient, SystemStoreDoesNotKnowTestCa) {
  tls.ca_file.clear();
  auto cc = client();
  ASSERT_TRUE(cc);
  Conn c = connect(*cc, "backend.test");
  EXPECT_FALSE(c.hs.ok);
  EXPECT_FALSE(ClientContext::verify_error(c.client.get()).empty());
}

TEST_F(TlsClient, IpLiteralVerifiedAsIpWithoutSni) {
  auto cc = client();
  ASSERT_TRUE(cc);
  Conn c = connect(*cc, "127.0.0.1");
  ASSERT_TRUE(c.hs.ok) << c.hs.client_error;
  EXPECT_EQ(ServerContext::server_name(c.server.get()), "") << "no SNI for IP literals";

  Conn other = connect(*cc, "127.0.0.2");
  EXPECT_FALSE(other.hs.ok);
  EXPECT_EQ(ClientContext::verify_error(other.client.get()), "IP address mismatch");

  Conn v6 = connect(*cc, "[::1]");
  EXPECT_FALSE(v6.hs.ok);
  EXPECT_EQ(ClientContext::verify_error(v6.client.get()), "IP address mismatch");
}

TEST_F(TlsClient, SniOverrideIsSentAndChecked) {
  tls.sni = "internal.test";
  auto cc = client();
  ASSERT_TRUE(cc);
  // An IP backend reached under a configured name: SNI picks the server's
  // "named" certificate and the check is against that name.
  Conn c = connect(*cc, "10.1.2.3");
  ASSERT_TRUE(c.hs.ok) << c.hs.client_error;
  EXPECT_EQ(ServerContext::server_name(c.server.get()), "internal.test");
  EXPECT_EQ(subject_cn(SSL_get0_peer_certificate(c.client.get())), "named");

  tls.sni = "backend.test.";  // a trailing dot is not part of SNI
  auto cc2 = client();
  Conn d = connect(*cc2, "whatever.test");
  EXPECT_TRUE(d.hs.ok) << d.hs.client_error;
}

TEST_F(TlsClient, ClientCertificateForMtls) {
  auto pair = dir.write_pair("client", issue("gatehouse-client", {"DNS:client.test"}, false, &ca));
  tls.cert_file = pair.first;
  tls.key_file = pair.second;
  auto cc = client();
  ASSERT_TRUE(cc);
  Conn c = connect(*cc, "backend.test", 443, true);
  ASSERT_TRUE(c.hs.ok) << c.hs.client_error << " / " << c.hs.server_error;
  X509* presented = SSL_get0_peer_certificate(c.server.get());
  EXPECT_EQ(subject_cn(presented), "gatehouse-client");

  // Without one, a server that insists refuses the handshake.
  tls.cert_file.clear();
  tls.key_file.clear();
  auto plain = client();
  Conn d = connect(*plain, "backend.test", 443, true);
  EXPECT_FALSE(d.hs.ok);
}

TEST_F(TlsClient, CreateRefusesBadFiles) {
  std::string err;
  config::UpstreamTls t;
  t.ca_file = dir.path() + "/missing-ca.pem";
  EXPECT_FALSE(ClientContext::create(t, err));
  EXPECT_TRUE(contains(err, "missing-ca.pem: cannot open")) << err;

  t.ca_file = dir.write("empty-ca.pem", "");
  EXPECT_FALSE(ClientContext::create(t, err));
  EXPECT_TRUE(contains(err, "empty-ca.pem: no PEM certificate found")) << err;

  auto a = dir.write_pair("a", issue("a", {"DNS:a.test"}, false, &ca));
  auto b = dir.write_pair("b", issue("b", {"DNS:b.test"}, false, &ca));
  t = {};
  t.cert_file = a.first;
  EXPECT_FALSE(ClientContext::create(t, err));
  EXPECT_TRUE(contains(err, a.first + ": tls cert_file and key_file must be given together")) << err;
  t.key_file = b.second;
  EXPECT_FALSE(ClientContext::create(t, err));
  EXPECT_TRUE(contains(err, b.second + ": private key does not match")) << err;
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsClient, PrepareRefusesEmptyHost) {
  auto cc = client();
  SslPtr ssl(SSL_new(cc->asio_context().native_handle()));
  EXPECT_FALSE(cc->prepare(ssl.get(), "", 443));
  EXPECT_FALSE(cc->prepare(nullptr, "backend.test", 443));
}

// ---- resumption --------------------------------------------------------------

class TlsClientResume : public TlsClient, public ::testing::WithParamInterface<int> {};

TEST_P(TlsClientResume, SecondHandshakeResumes) {
  auto cc = client();
  ASSERT_TRUE(cc);
  SSL_CTX_set_max_proto_version(cc->asio_context().native_handle(), GetParam());
  Conn first = connect(*cc, "backend.test", 8443);
  ASSERT_TRUE(first.hs.ok) << first.hs.client_error;
  EXPECT_EQ(SSL_session_reused(first.client.get()), 0);
  EXPECT_EQ(SSL_version(first.client.get()), GetParam());

  Conn second = connect(*cc, "backend.test", 8443);
  ASSERT_TRUE(second.hs.ok);
  EXPECT_EQ(SSL_session_reused(second.client.get()), 1);
  EXPECT_EQ(ClientContext::verify_error(second.client.get()), "");

  // Sessions are per host:port.
  Conn other_port = connect(*cc, "backend.test", 9443);
  ASSERT_TRUE(other_port.hs.ok);
  EXPECT_EQ(SSL_session_reused(other_port.client.get()), 0);

  cc->forget_session("backend.test", 8443);
  Conn forgotten = connect(*cc, "backend.test", 8443);
  ASSERT_TRUE(forgotten.hs.ok);
  EXPECT_EQ(SSL_session_reused(forgotten.client.get()), 0);
}

TEST_P(TlsClientResume, SaveSessionAfterHandshake) {
  auto cc = client();
  ASSERT_TRUE(cc);
  SSL_CTX_set_max_proto_version(cc->asio_context().native_handle(), GetParam());
  Conn first = connect(*cc, "backend.test", 1443);
  ASSERT_TRUE(first.hs.ok);
  cc->forget_session("backend.test", 1443);
  cc->save_session(first.client.get());
  Conn second = connect(*cc, "backend.test", 1443);
  ASSERT_TRUE(second.hs.ok);
  EXPECT_EQ(SSL_session_reused(second.client.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsClientResume, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const auto& info) { return info.param == TLS1_2_VERSION ? "tls12" : "tls13"; });

TEST_F(TlsClient, SessionOutlivesContextObject) {
  // A pooled connection may receive its ticket after a reload dropped the
  // ClientContext: the cache lives with the SSL_CTX, so nothing dangles.
  auto cc = client();
  SslPtr cl(SSL_new(cc->asio_context().native_handle()));
  SslPtr sv(SSL_new(server->asio_context().native_handle()));
  ASSERT_TRUE(cc->prepare(cl.get(), "backend.test", 443));
  server.reset();
  cc.reset();
  Handshake h = run_handshake(cl.get(), sv.get());
  EXPECT_TRUE(h.ok) << h.client_error;
}

// ---- through Asio streams ------------------------------------------------------

namespace asio = boost::asio;
using Local = asio::local::stream_protocol::socket;

// One exchange over a socket pair: the server handshakes in a thread, the
// client here; returns the client's handshake error (empty on success).
std::string asio_exchange(ServerContext& sctx, ClientContext& cctx, const std::string& host,
                          std::string* echoed = nullptr) {
  asio::io_context io;
  Local a(io), b(io);
  asio::local::connect_pair(a, b);
  asio::ssl::stream<Local> srv(std::move(a), sctx.asio_context());
  asio::ssl::stream<Local> cli(std::move(b), cctx.asio_context());
  std::thread t([&] {
    boost::system::error_code ec;
    srv.handshake(asio::ssl::stream_base::server, ec);
    if (ec) return;
    char buf[4];
    asio::read(srv, asio::buffer(buf), ec);
    if (!ec) asio::write(srv, asio::buffer(buf), ec);
  });
  EXPECT_TRUE(cctx.prepare(cli.native_handle(), host, 443));
  boost::system::error_code ec;
  cli.handshake(asio::ssl::stream_base::client, ec);
  std::string result;
  if (ec) {
    result = ClientContext::verify_error(cli.native_handle());
    if (result.empty()) result = ec.message();
    cli.next_layer().close();  // lets the server thread finish
  } else {
    asio::write(cli, asio::buffer("ping", 4), ec);
    char buf[4];
    asio::read(cli, asio::buffer(buf), ec);
    if (echoed) echoed->assign(buf, ec ? 0 : 4);
  }
  t.join();
  return result;
}

TEST_F(TlsClient, AsioStreamsEndToEnd) {
  auto cc = client();
  ASSERT_TRUE(cc);
  std::string echoed;
  EXPECT_EQ(asio_exchange(*server, *cc, "backend.test", &echoed), "");
  EXPECT_EQ(echoed, "ping");
  EXPECT_EQ(asio_exchange(*server, *cc, "wrong.test"), "hostname mismatch");
  tls.ca_file = other_ca_file;
  auto wrong = client();
  EXPECT_EQ(asio_exchange(*server, *wrong, "backend.test"), "unable to get local issuer certificate");
}

}  // namespace
}  // namespace gh::tls
