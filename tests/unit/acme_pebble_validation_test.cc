// The ACME client against pebble validating for real (no
// PEBBLE_VA_ALWAYS_VALID): a responder here answers pebble's http-01 request
// or tls-alpn-01 handshake for "localhost" with what the client's Challenge
// says, so a wrong key authorization (thumbprint) or a wrong acmeIdentifier
// extension (RFC 8737) fails the order. And a challenge nobody answers gives
// the CA's reason.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <map>
#include <mutex>

#include "acme_pebble.h"

using namespace gh::acme;
using namespace gh::acme::testing;
using namespace std::chrono_literals;

namespace {

// A listener on 127.0.0.1:port served by one thread; each accepted
// connection goes to handle() with 2 s socket timeouts.
class Responder {
 public:
  explicit Responder(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0;
  }
  virtual ~Responder() { stop(); }
  bool ok() const { return ok_; }
  void run() {
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        timeval tv{2, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        handle(c);
        ::close(c);
        ++served;
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::atomic<int> served{0};

 protected:
  virtual void handle(int fd) = 0;

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// http-01 (RFC 8555 8.3): GET /.well-known/acme-challenge/<token> -> the key
// authorization.
class HttpResponder : public Responder {
 public:
  using Responder::Responder;
  std::mutex mu;
  std::map<std::string, std::string> answers;   // (mu) token -> key authorization

 protected:
  void handle(int fd) override {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = "GET /.well-known/acme-challenge/";
    std::string body;
    bool found = false;
    if (req.starts_with(prefix)) {
      const std::string token = req.substr(prefix.size(), req.find(' ', prefix.size()) - prefix.size());
      std::lock_guard lock(mu);
      if (auto it = answers.find(token); it != answers.end()) {
        body = it->second;
        found = true;
      }
    }
    const std::string resp = std::string(found ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n") +
                             "Content-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
  }
};

// tls-alpn-01 (RFC 8737): a handshake with ALPN "acme-tls/1" and SNI = the
// name gets the validation certificate for that name.
class AlpnResponder : public Responder {
 public:
  explicit AlpnResponder(uint16_t port) : Responder(port), ctx_(SSL_CTX_new(TLS_server_method())) {
    ::signal(SIGPIPE, SIG_IGN);   // a peer that hangs up must not end the test process
    SSL_CTX_set_alpn_select_cb(ctx_, on_alpn, nullptr);
    SSL_CTX_set_tlsext_servername_callback(ctx_, on_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  }
  ~AlpnResponder() override {
    stop();
    SSL_CTX_free(ctx_);
  }
  std::mutex mu;
  std::map<std::string, AlpnCertificate> certs;   // (mu) name -> certificate
  std::vector<std::string> failures;              // (mu) handshakes that failed, why

 protected:
  void handle(int fd) override {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      SSL_shutdown(ssl);
    } else {
      std::lock_guard lock(mu);
      failures.push_back(gh::tls::take_ossl_error("handshake failed"));
    }
    SSL_free(ssl);
    ERR_clear_error();
  }

 private:
  static int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned inlen, void*) {
    static const unsigned char acme[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
    unsigned char* sel = nullptr;
    if (SSL_select_next_proto(&sel, outlen, acme, sizeof acme, in, inlen) != OPENSSL_NPN_NEGOTIATED)
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  static int on_sni(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<AlpnResponder*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::lock_guard lock(self->mu);
    auto it = name ? self->certs.find(name) : self->certs.end();
    if (it == self->certs.end()) return SSL_TLSEXT_ERR_ALERT_FATAL;
    SSL_use_certificate(ssl, it->second.cert.get());
    SSL_use_PrivateKey(ssl, it->second.key.get());
    return SSL_TLSEXT_ERR_OK;
  }
  SSL_CTX* ctx_;
};

// Answers through the two responders, as gatehouse's would.
struct ServingSolver : ChallengeSolver {
  std::vector<std::string> offer;
  HttpResponder* http = nullptr;
  AlpnResponder* alpn = nullptr;
  std::vector<std::string> presented;
  int cleaned = 0;
  std::vector<std::string> types() const override { return offer; }
  bool present(const Challenge& c, std::string& err) override {
    presented.push_back(c.type + " " + c.domain);
    if (c.type == "http-01" && http) {
      std::lock_guard lock(http->mu);
      http->answers[c.token] = c.key_authorization;
      return true;
    }
    if (c.type == "tls-alpn-01" && alpn) {
      auto cert = make_tls_alpn01_certificate(c.domain, c.key_authorization, err);
      if (!cert) return false;
      std::lock_guard lock(alpn->mu);
      alpn->certs[c.domain] = std::move(*cert);
      return true;
    }
    err = "no responder for " + c.type;
    return false;
  }
  void cleanup(const Challenge& c) override {
    ++cleaned;
    if (c.type == "http-01" && http) {
      std::lock_guard lock(http->mu);
      http->answers.erase(c.token);
    }
    if (c.type == "tls-alpn-01" && alpn) {
      std::lock_guard lock(alpn->mu);
      alpn->certs.erase(c.domain);
    }
  }
};

class PebbleValidation : public Pebble {};

TEST_F(PebbleValidation, Http01ValidatedByTheCa) {
  start({}, /*always_valid=*/false);
  HttpResponder http(http_port);
  ASSERT_TRUE(http.ok());
  http.run();
  ServingSolver solver;
  solver.offer = {"http-01"};
  solver.http = &http;
  Client client(options(), generate_ec_key());
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  auto issued = client.issue({"localhost"}, cert_key.get(), solver, err);
  ASSERT_TRUE(issued) << err;
  EXPECT_GE(http.served.load(), 1);   // pebble did ask
  EXPECT_EQ(solver.presented, std::vector<std::string>{"http-01 localhost"});
  EXPECT_EQ(solver.cleaned, 1);
}

TEST_F(PebbleValidation, TlsAlpn01ValidatedByTheCa) {
  start({}, /*always_valid=*/false);
  AlpnResponder alpn(tls_port);
  ASSERT_TRUE(alpn.ok());
  alpn.run();
  ServingSolver solver;
  solver.offer = {"tls-alpn-01"};
  solver.alpn = &alpn;
  Client client(options(), generate_ec_key());
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  auto issued = client.issue({"localhost"}, cert_key.get(), solver, err);
  std::string why;
  for (auto& f : alpn.failures) why += f + "; ";
  ASSERT_TRUE(issued) << err << " (handshakes failed: " << why << ")";
  EXPECT_GE(alpn.served.load(), 1);
  EXPECT_EQ(solver.presented, std::vector<std::string>{"tls-alpn-01 localhost"});
  EXPECT_EQ(solver.cleaned, 1);
}

// Nothing listens on pebble's http port: the authorization turns invalid
// and the error carries the challenge's problem.
TEST_F(PebbleValidation, UnansweredChallengeGivesTheCasReason) {
  start({}, /*always_valid=*/false);
  ServingSolver solver;
  solver.offer = {"http-01"};
  HttpResponder unused(0);   // present() records the token; nobody serves it
  solver.http = &unused;
  Client client(options(), generate_ec_key());
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  EXPECT_FALSE(client.issue({"localhost"}, cert_key.get(), solver, err));
  EXPECT_TRUE(err.starts_with("authorization localhost: invalid: http-01: urn:ietf:params:acme:error:")) << err;
  EXPECT_EQ(solver.cleaned, 1);
}

}  // namespace
