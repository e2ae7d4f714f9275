// upstream::sub_request against a scripted origin on a thread: response
// framings (Content-Length, chunked, until close), 1xx skipped, bounds,
// keep-alive reuse and a pooled connection the origin closed, refusal and
// timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "upstream/sub_request.h"

namespace gh::upstream {
namespace {

using namespace std::chrono_literals;

// Answers each request (a head up to CRLF CRLF) with the next of `answers`
// (cycling); closes after each answer when `close_after`, never answers
// when `answers` is empty.
class ScriptedOrigin {
 public:
  ScriptedOrigin(std::vector<std::string> answers, bool close_after)
      : answers_(std::move(answers)), close_after_(close_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedOrigin() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> g(mu_);
    return requests_;
  }

 private:
  void run() {
    std::vector<std::thread> conns;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      conns.emplace_back([this, c] { serve(c); });
    }
    for (auto& t : conns) t.join();
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t i;
      {
        std::lock_guard<std::mutex> g(mu_);
        requests_.push_back(in.substr(0, end + 4));
        i = requests_.size() - 1;
      }
      in.erase(0, end + 4);
      if (answers_.empty()) continue;   // never answers
      const std::string& ans = answers_[i % answers_.size()];
      (void)!::send(c, ans.data(), ans.size(), MSG_NOSIGNAL);
      if (close_after_) break;
    }
    ::close(c);
  }

  std::vector<std::string> answers_;
  bool close_after_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

const std::string kRequest = "GET /verify HTTP/1.1\r\nHost: auth\r\n\r\n";

// Runs `n` sub-requests one after the other on one io_context (one worker).
std::vector<SubResponse> ask(uint16_t port, int n, std::chrono::milliseconds timeout = 2000ms,
                             SubLimits lim = {}) {
  net::asio::io_context ctx;
  auto origin = std::make_shared<SubOrigin>(ctx, "127.0.0.1", port, nullptr);
  std::vector<SubResponse> out;
  net::asio::co_spawn(
      ctx.get_executor(),
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < n; ++i) {
          SubResponse r = co_await sub_request(origin, kRequest, timeout, lim);
          out.push_back(std::move(r));
        }
      },
      net::asio::detached);
  ctx.run_for(10s);
  return out;
}

std::string field(const SubResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.fields)
    if (n == name) return v;
  return "<none>";
}

TEST(SubRequest, ContentLengthAnswerAndKeepAliveReuse) {
  ScriptedOrigin o({"HTTP/1.1 200 OK\r\nRemote-User: alice\r\nContent-Length: 2\r\n\r\nok"}, false);
  auto rs = ask(o.port(), 3);
  ASSERT_EQ(rs.size(), 3u);
  for (const auto& r : rs) {
    EXPECT_EQ(r.status, 200) << r.details;
    EXPECT_EQ(field(r, "Remote-User"), "alice");
    EXPECT_EQ(r.body, "ok");
  }
  EXPECT_FALSE(rs[0].reused);
  EXPECT_TRUE(rs[1].reused);
  EXPECT_TRUE(rs[2].reused);
  EXPECT_EQ(o.connections(), 1);
  ASSERT_EQ(o.requests().size(), 3u);
  EXPECT_EQ(o.requests()[0], kRequest);
}

TEST(SubRequest, ChunkedBodyAfterAnInterimResponse) {
  ScriptedOrigin o({"HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n"
                    "WWW-Authenticate: Bearer\r\n\r\n5\r\nlogin\r\n3\r\n me\r\n0\r\n\r\n"},
                   false);
  auto rs = ask(o.port(), 2);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 401) << rs[0].details;
  EXPECT_EQ(rs[0].body, "login me");
  EXPECT_EQ(field(rs[0], "WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(rs[1].reused);
  EXPECT_EQ(o.connections(), 1);
}

TEST(SubRequest, BodyUntilCloseIsReadAndTheConnectionNotKept) {
  ScriptedOrigin o({"HTTP/1.1 403 Forbidden\r\n\r\nno entry"}, true);
  auto rs = ask(o.port(), 2);
  ASSERT_EQ(rs.size(), 2u);
  for (const auto& r : rs) {
    EXPECT_EQ(r.status, 403) << r.details;
    EXPECT_EQ(r.body, "no entry");
    EXPECT_FALSE(r.reused);
  }
  EXPECT_EQ(o.connections(), 2);
}

TEST(SubRequest, PooledConnectionClosedByTheOriginIsReplaced) {
  // Keep-alive by HTTP/1.1's default, yet closed after each answer.
  ScriptedOrigin o({"HTTP/1.1 204 No Content\r\n\r\n"}, true);
  auto rs = ask(o.port(), 3);
  ASSERT_EQ(rs.size(), 3u);
  for (const auto& r : rs) EXPECT_EQ(r.status, 204) << r.error << " " << r.details;
  EXPECT_EQ(o.connections(), 3);
}

TEST(SubRequest, BoundsOnBodyAndHead) {
  SubLimits lim;
  lim.max_body = 10;
  {
    ScriptedOrigin o({"HTTP/1.1 401 X\r\nContent-Length: 11\r\n\r\n01234567890"}, false);
    auto rs = ask(o.port(), 1, 2000ms, lim);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, 0);
    EXPECT_EQ(rs[0].http_status, 502);
    EXPECT_STREQ(rs[0].error, "http_response_body_size");
  }
  {
    ScriptedOrigin o({"HTTP/1.1 401 X\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n"},
                     false);
    auto rs = ask(o.port(), 1, 2000ms, lim);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_STREQ(rs[0].error, "http_response_body_size");
  }
  {
    lim.max_head = 64;
    ScriptedOrigin o({"HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n"}, false);
    auto rs = ask(o.port(), 1, 2000ms, lim);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].http_status, 502);
    EXPECT_STREQ(rs[0].error, "http_protocol_error");
  }
}

TEST(SubRequest, MalformedAnswerIs502) {
  ScriptedOrigin o({"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"}, false);
  auto rs = ask(o.port(), 1);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].http_status, 502);
  EXPECT_STREQ(rs[0].error, "http_protocol_error");
}

TEST(SubRequest, RefusedIs503) {
  uint16_t port;
  {
    ScriptedOrigin o({}, false);
    port = o.port();
  }   // closed: nothing listens there now
  auto rs = ask(port, 1);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 0);
  EXPECT_EQ(rs[0].http_status, 503);
  EXPECT_STREQ(rs[0].error, "connection_refused");
}

TEST(SubRequest, NoAnswerIs504AtTheTimeout) {
  ScriptedOrigin o({}, false);   // reads, never answers
  const auto t0 = std::chrono::steady_clock::now();
  auto rs = ask(o.port(), 1, 300ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].http_status, 504);
  EXPECT_STREQ(rs[0].error, "http_response_timeout");
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 1500ms);
}

}  // namespace
}  // namespace gh::upstream
