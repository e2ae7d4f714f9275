// The ACME client's HTTP requests (libcurl) against a scripted local server:
// bounded by timeouts and the response cap, aborted by the stop flag while a
// transfer is in progress, and a non-ACME directory named as such.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "acme/client.h"
#include "acme/http.h"

using namespace gh::acme;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Serves every connection on 127.0.0.1:<port> with `reply(fd, request)` on
// one thread, until destroyed.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int, const std::string&)> reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 8);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          pollfd q{c, POLLIN, 0};
          if (::poll(&q, 1, 2000) <= 0) break;
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        reply_(c, req);
        ::close(c);
      }
    });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::atomic<bool> stop_{false};

 private:
  std::function<void(int, const std::string&)> reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

void send_all(int fd, const std::string& s) {
  size_t put = 0;
  while (put < s.size()) {
    const ssize_t n = ::send(fd, s.data() + put, s.size() - put, MSG_NOSIGNAL);
    if (n <= 0) return;
    put += static_cast<size_t>(n);
  }
}

// Holds the connection open without answering, until the server stops
// (at most 10 s).
void stall(int, const std::string&, const std::atomic<bool>& stop) {
  for (int i = 0; i < 200 && !stop; ++i) std::this_thread::sleep_for(50ms);
}

TEST(AcmeHttp, HeadersAreLowerCasedAndBodyKept) {
  ScriptedServer server([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation:  https://ca/acct/1 \r\nContent-Length: 2\r\n\r\n{}");
  });
  HttpOptions o;
  HttpResponse r = http_request(o, "POST", server.url("/new-acct"), "{}", "application/jose+json");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("replay-nonce"), "abc");
  EXPECT_EQ(r.header("location"), "https://ca/acct/1");
  EXPECT_EQ(r.body, "{}");
}

TEST(AcmeHttp, TimeoutBoundsASilentServer) {
  ScriptedServer* self = nullptr;
  ScriptedServer server([&](int fd, const std::string& req) { stall(fd, req, self->stop_); });
  self = &server;
  HttpOptions o;
  o.timeout_ms = 400;
  const auto t0 = Clock::now();
  HttpResponse r = http_request(o, "GET", server.url());
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("imed out"), std::string::npos) << r.error;
  server.stop_ = true;
}

TEST(AcmeHttp, StopFlagAbortsATransferInProgress) {
  ScriptedServer* self = nullptr;
  ScriptedServer server([&](int fd, const std::string& req) { stall(fd, req, self->stop_); });
  self = &server;
  std::atomic<bool> stop{false};
  HttpOptions o;
  o.timeout_ms = 20000;
  o.stop = &stop;
  std::thread setter([&] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  const auto t0 = Clock::now();
  HttpResponse r = http_request(o, "GET", server.url());
  const auto took = Clock::now() - t0;
  setter.join();
  server.stop_ = true;
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_LT(took, 5s);
  EXPECT_GE(took, 250ms);
}

TEST(AcmeHttp, ResponseLargerThanTheCapIsRefused) {
  ScriptedServer server([](int fd, const std::string&) {
    const size_t n = kMaxResponseBytes + 1;
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" + std::string(n, 'x'));
  });
  HttpOptions o;
  HttpResponse r = http_request(o, "GET", server.url());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("larger than"), std::string::npos) << r.error;
  EXPECT_LE(r.body.size(), kMaxResponseBytes);
}

TEST(AcmeHttp, SameCapWithoutContentLength) {
  ScriptedServer server([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(kMaxResponseBytes + 4096, 'x'));
  });
  HttpOptions o;
  HttpResponse r = http_request(o, "GET", server.url());
  EXPECT_NE(r.error.find("larger than"), std::string::npos) << r.error;
}

TEST(AcmeHttp, NoRedirectsFollowed) {
  ScriptedServer server([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n");
  });
  HttpOptions o;
  HttpResponse r = http_request(o, "GET", server.url());
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.status, 302);
}

TEST(AcmeHttp, ANonAcmeDirectoryIsNamed) {
  ScriptedServer server([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>");
  });
  Options o;
  o.directory_url = server.url("/dir");
  Client client(o, generate_ec_key());
  std::string err;
  EXPECT_FALSE(client.ensure_account(err));
  EXPECT_EQ(err, "directory " + o.directory_url + ": no \"newNonce\" URL (not an ACME directory?)");
}

TEST(AcmeHttp, ADirectoryErrorShowsTheProblem) {
  ScriptedServer server([](int fd, const std::string&) {
    const std::string body = R"({"type":"urn:ietf:params:acme:error:serverInternal","detail":"down for maintenance"})";
    send_all(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  Options o;
  o.directory_url = server.url("/dir");
  Client client(o, generate_ec_key());
  std::string err;
  EXPECT_FALSE(client.ensure_account(err));
  EXPECT_EQ(err, "directory " + o.directory_url + ": urn:ietf:params:acme:error:serverInternal: down for maintenance");
}

TEST(AcmeHttp, AnUnsupportedAccountKeyIsRefusedBeforeAnyRequest) {
  Options o;
  o.directory_url = "http://127.0.0.1:1/dir";
  Client client(o, gh::acme::PkeyPtr(EVP_EC_gen("P-384")));
  std::string err;
  EXPECT_FALSE(client.ensure_account(err));
  EXPECT_NE(err.find("neither EC P-256"), std::string::npos) << err;
}

}  // namespace
