// The status view and the admin HTTP server: JSON escaping and shape (checked
// by parsing it back with Boost.JSON), backend states, and the admin server
// over real loopback connections (routes, keep-alive, pipelining, HEAD, bad
// requests, timeouts).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/src.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "admin/json.h"
#include "admin/status.h"

namespace gh::admin {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace json = boost::json;

json::value parse(const std::string& s) {
  boost::system::error_code ec;
  json::value v = json::parse(s, ec);
  EXPECT_FALSE(ec) << ec.message() << " in:\n" << s;
  return v;
}

// ---- JSON pieces ----

TEST(AdminJson, StringsAreAlwaysValidJson) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\t\x01\x7f", 10));  // NUL included
  EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001\u007f\u0000")");

  out.clear();
  append_json_string(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // é € 😀 kept
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

  out.clear();
  // Lone continuation, truncated sequence, overlong '/', surrogate, past U+10FFFF.
  append_json_string(out, "\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80");
  EXPECT_EQ(parse(out).as_string(), "\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                                    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(AdminJson, WriterNestsAndSeparates) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("n", -3);
  w.member("u", uint64_t{18446744073709551615ull});
  w.member("b", false);
  w.key("empty");
  w.begin_array();
  w.end_array();
  w.key("list");
  w.begin_array();
  w.value("x");
  w.null();
  w.begin_object();
  w.end_object();
  w.end_array();
  w.end_object();
  w.end_object();  // unbalanced extra close is ignored
  json::value v = parse(out);
  EXPECT_EQ(v.at("n").as_int64(), -3);
  EXPECT_EQ(v.at("u").as_uint64(), 18446744073709551615ull);
  EXPECT_FALSE(v.at("b").as_bool());
  EXPECT_TRUE(v.at("empty").as_array().empty());
  EXPECT_EQ(v.at("list").as_array().size(), 3u);
}

TEST(AdminJson, FormatsUtc) {
  using namespace std::chrono;
  EXPECT_EQ(format_utc(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_utc(system_clock::time_point{milliseconds(1700000000123)}),
            "2023-11-14T22:13:20.123Z");
}

// ---- status view ----

std::unique_ptr<upstream::Backend> backend(const std::string& host, uint16_t port) {
  auto b = std::make_unique<upstream::Backend>();
  b->host = host;
  b->port = port;
  b->name = host + ":" + std::to_string(port);
  return b;
}

uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(AdminStatus, BackendStates) {
  auto b = backend("10.0.0.1", 80);
  EXPECT_STREQ(backend_state(*b, 1000), "up");
  b->passive_down_until = 2000;
  EXPECT_STREQ(backend_state(*b, 1000), "ejected");
  EXPECT_STREQ(backend_state(*b, 2000), "up");
  b->active_up = false;
  EXPECT_STREQ(backend_state(*b, 1000), "down");  // down wins over ejected
  EXPECT_STREQ(balance_name(config::Balance::least_conn), "least_conn");
  EXPECT_STREQ(balance_name(config::Balance::ip_hash), "ip_hash");
}

TEST(AdminStatus, RendersRoutesBackendsAndCheckResults) {
  auto dead = backend("127.0.0.1", dead_port());
  auto busy = backend("10.0.0.2", 8000);
  auto spare = backend("10.0.0.3", 8000);
  busy->weight = 3;
  busy->in_flight = 2;
  busy->requests = 40;
  busy->failures = 5;
  busy->consecutive_failures = 2;
  busy->passive_down_until = 10000 + 1500;
  spare->backup = true;

  upstream::HealthChecker checker;
  auto owner = std::shared_ptr<const void>(nullptr, [](const void*) {});
  upstream::CheckTarget t;
  t.backend = dead.get();
  t.check.enabled = true;
  t.check.interval = 50ms;
  t.check.timeout = 500ms;
  t.check.unhealthy = 1;
  t.route = "/api";
  checker.set_targets({t}, owner);
  auto end = Clock::now() + 3s;
  while (dead->active_up && Clock::now() < end) std::this_thread::sleep_for(5ms);
  ASSERT_FALSE(dead->active_up);

  config::Route api;
  api.path = "/api";
  api.domains = {"api.example.com", "*.example.com"};
  api.balance = config::Balance::least_conn;
  std::vector<RouteStatusView> views;
  views.push_back(make_route_view(api, {dead.get(), busy.get(), nullptr, spare.get()}, &checker));
  RouteStatusView plain;
  plain.path = "/we\"ird\x01";
  plain.balance = "round_robin";
  views.push_back(plain);

  std::string text = render_status_json(views, 10000);
  checker.stop();
  json::value v = parse(text);
  ASSERT_TRUE(v.is_object());
  EXPECT_TRUE(v.at("generated_at").is_string());
  const auto& routes = v.at("routes").as_array();
  ASSERT_EQ(routes.size(), 2u);

  const auto& r0 = routes[0].as_object();
  EXPECT_EQ(r0.at("path").as_string(), "/api");
  EXPECT_EQ(r0.at("domains").as_array().size(), 2u);
  EXPECT_EQ(r0.at("domains").as_array()[1].as_string(), "*.example.com");
  EXPECT_EQ(r0.at("balance").as_string(), "least_conn");
  const auto& bs = r0.at("backends").as_array();
  ASSERT_EQ(bs.size(), 3u);  // the null backend is dropped

  const auto& b0 = bs[0].as_object();
  EXPECT_EQ(b0.at("name").as_string(), dead->name);
  EXPECT_EQ(b0.at("state").as_string(), "down");
  const auto& ac = b0.at("active_check").as_object();
  EXPECT_FALSE(ac.at("up").as_bool());
  EXPECT_EQ(ac.at("last_result").as_string(), "fail");
  EXPECT_EQ(ac.at("last_error").as_string(), "connection refused");
  EXPECT_TRUE(ac.at("last_status").is_null());
  EXPECT_TRUE(ac.at("last_check").is_string());
  EXPECT_GE(ac.at("consecutive_failures").as_int64(), 1);
  EXPECT_EQ(ac.at("consecutive_passes").as_int64(), 0);
  EXPECT_EQ(ac.at("interval_ms").as_int64(), 50);

  const auto& b1 = bs[1].as_object();
  EXPECT_EQ(b1.at("state").as_string(), "ejected");
  EXPECT_EQ(b1.at("weight").as_int64(), 3);
  EXPECT_EQ(b1.at("in_flight").as_int64(), 2);
  EXPECT_EQ(b1.at("requests").as_int64(), 40);
  EXPECT_EQ(b1.at("failures").as_int64(), 5);
  EXPECT_EQ(b1.at("passive").at("consecutive_failures").as_int64(), 2);
  EXPECT_EQ(b1.at("passive").at("ejected_for_ms").as_int64(), 1500);
  EXPECT_TRUE(b1.at("active_check").is_null());  // not a check target
  EXPECT_FALSE(b1.at("backup").as_bool());

  const auto& b2 = bs[2].as_object();
  EXPECT_TRUE(b2.at("backup").as_bool());
  EXPECT_EQ(b2.at("state").as_string(), "up");

  const auto& r1 = routes[1].as_object();
  EXPECT_EQ(r1.at("path").as_string(), "/we\"ird\x01");
  EXPECT_TRUE(r1.at("domains").as_array().empty());
  EXPECT_TRUE(r1.at("backends").as_array().empty());
}

TEST(AdminStatus, EmptyInputIsStillADocument) {
  json::value v = parse(render_status_json({}));
  EXPECT_TRUE(v.at("routes").as_array().empty());
}

TEST(AdminStatus, RateLimitStoreCounters) {
  json::value v = parse(render_status_json({}, RateLimitStatusView{12, 3}));
  EXPECT_EQ(v.at("rate_limit").at("store_decisions").as_int64(), 12);
  EXPECT_EQ(v.at("rate_limit").at("store_errors").as_int64(), 3);
  v = parse(render_status_json({}));
  EXPECT_EQ(v.at("rate_limit").at("store_errors").as_int64(), 0);
}

// ---- the admin server over loopback ----

// An io_context thread with a listener; every connection goes to serve_admin.
class AdminFixture : public testing::Test {
 protected:
  void start(Handler h, ServeOptions opt = {}) {
    acceptor_ = std::make_unique<net::tcp::acceptor>(
        ctx_, net::tcp::endpoint(net::asio::ip::make_address("127.0.0.1"), 0));
    port_ = acceptor_->local_endpoint().port();
    net::asio::co_spawn(ctx_, accept_loop(std::move(h), opt), net::asio::detached);
    thread_ = std::thread([this] { ctx_.run(); });
  }
  void TearDown() override {
    ctx_.stop();
    if (thread_.joinable()) thread_.join();
  }
  net::awaitable<void> accept_loop(Handler h, ServeOptions opt) {
    for (;;) {
      auto [ec, s] = co_await acceptor_->async_accept(ctx_.get_executor(), net::nothrow);
      if (ec) co_return;
      net::asio::co_spawn(ctx_, serve_admin(net::Stream(std::move(s)), h, opt),
                          net::asio::detached);
    }
  }

  int connect_client() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  static void send_all(int fd, const std::string& s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Reads until the peer closes or `limit` passes; returns what arrived.
  static std::string read_until_close(int fd, std::chrono::milliseconds limit = 2000ms) {
    std::string s;
    auto end = Clock::now() + limit;
    char buf[4096];
    while (Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return s;
      s.append(buf, static_cast<size_t>(n));
    }
    return s + "<still open>";
  }
  // Reads one response (head plus Content-Length body; no body when head_only).
  static std::string read_response(int fd, bool head_only = false) {
    std::string s;
    char c;
    auto end = Clock::now() + 2s;
    size_t want = std::string::npos;
    while (Clock::now() < end) {
      if (want == std::string::npos) {
        size_t h = s.find("\r\n\r\n");
        if (h != std::string::npos) {
          size_t cl = 0;
          auto p = s.find("Content-Length: ");
          if (p != std::string::npos) cl = std::stoul(s.substr(p + 16));
          want = h + 4 + (head_only ? 0 : cl);
        }
      }
      if (s.size() >= want) return s;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      if (::recv(fd, &c, 1, 0) <= 0) return s;
      s += c;
    }
    return s;
  }
  static std::string body_of(const std::string& r) {
    size_t h = r.find("\r\n\r\n");
    return h == std::string::npos ? "" : r.substr(h + 4);
  }

  net::asio::io_context ctx_{1};
  std::unique_ptr<net::tcp::acceptor> acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

Handler standard_handler() {
  return make_admin_handler([] { return std::string("{\"routes\": []}\n"); });
}

TEST_F(AdminFixture, HealthzStatusAnd404OnOneKeepAliveConnection) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(r.find("Cache-Control: no-store\r\n"), std::string::npos);
  EXPECT_EQ(r.find("Connection: close"), std::string::npos);
  EXPECT_EQ(body_of(r), "ok");

  send_all(fd, "GET /status?verbose=1 HTTP/1.1\r\nHost: admin\r\n\r\n");
  r = read_response(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(body_of(r), "{\"routes\": []}\n");

  send_all(fd, "GET /nope HTTP/1.1\r\nHost: admin\r\n\r\n");
  r = read_response(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << r;
  ::close(fd);
}

TEST_F(AdminFixture, PipelinedRequestsAreAnsweredInOrder) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd,
           "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
           "GET /status HTTP/1.1\r\nHost: a\r\n\r\n"
           "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::string all = read_until_close(fd);
  size_t a = all.find("\r\n\r\nok");
  size_t b = all.find("{\"routes\"");
  size_t c = all.rfind("\r\n\r\nok");
  EXPECT_NE(a, std::string::npos) << all;
  EXPECT_NE(b, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(all.find("Connection: close"), std::string::npos);
  EXPECT_EQ(all.find("<still open>"), std::string::npos);
  ::close(fd);
}

TEST_F(AdminFixture, MethodsHeadAnd405) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd, "HEAD /status HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = read_response(fd, true);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 15\r\n"), std::string::npos) << r;
  send_all(fd, "DELETE /status HTTP/1.1\r\nHost: a\r\n\r\n");
  r = read_response(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 405 ", 0), 0u) << r;  // no body came before it
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos);
  ::close(fd);
}

TEST_F(AdminFixture, RequestWithBodyIsAnsweredThenClosed) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd, "POST /status HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  std::string all = read_until_close(fd);
  EXPECT_EQ(all.rfind("HTTP/1.1 405 ", 0), 0u) << all;
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(all.find("<still open>"), std::string::npos);
  ::close(fd);
}

TEST_F(AdminFixture, Http10ClosesUnlessKeepAlive) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos) << r;
  send_all(fd, "GET /healthz HTTP/1.0\r\n\r\n");
  std::string all = read_until_close(fd);
  EXPECT_EQ(body_of(all), "ok");
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
  ::close(fd);
}

TEST_F(AdminFixture, BadRequestsAreRefusedAndClosed) {
  start(standard_handler());
  int fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\r\n\r\n");  // no Host
  std::string all = read_until_close(fd);
  EXPECT_EQ(all.rfind("HTTP/1.1 400 ", 0), 0u) << all;
  EXPECT_EQ(all.find("<still open>"), std::string::npos);
  ::close(fd);

  fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\nHost: a\n\n");  // bare LF
  all = read_until_close(fd);
  EXPECT_EQ(all.rfind("HTTP/1.1 400 ", 0), 0u) << all;
  ::close(fd);

  fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'x') +
                   "\r\n\r\n");
  all = read_until_close(fd);
  EXPECT_EQ(all.rfind("HTTP/1.1 431 ", 0), 0u) << all.substr(0, 200);
  ::close(fd);
}

TEST_F(AdminFixture, HandlerThatThrowsGives500) {
  start([](std::string_view, std::string_view, std::string_view, std::string_view) -> Response {
    throw std::runtime_error("boom");
  });
  int fd = connect_client();
  send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 500 ", 0), 0u) << r;
  ::close(fd);
}

TEST_F(AdminFixture, AuthorizationFieldReachesTheHandler) {
  start([](std::string_view, std::string_view, std::string_view, std::string_view auth) {
    Response r;
    r.body = "[" + std::string(auth) + "]";
    return r;
  });
  int fd = connect_client();
  send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer abc  \r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_EQ(body_of(r), "[Bearer abc]") << r;
  send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  r = read_response(fd);
  EXPECT_EQ(body_of(r), "[]") << r;
  // Two Authorization fields: which one counts is ambiguous, so 400 and close.
  send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\n"
               "Authorization: Bearer b\r\n\r\n");
  r = read_until_close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 400 ", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  ::close(fd);
}

TEST_F(AdminFixture, HeaderFieldsThatCouldSplitTheHeadAreDropped) {
  start([](std::string_view, std::string_view, std::string_view, std::string_view) {
    Response r;
    r.headers = {{"X-Ok", "yes"}, {"X-Bad", "a\r\nSet-Cookie: x=1"}, {"Bad Name", "v"}};
    r.content_type = "text/plain\r\nX-Injected: 1";
    r.body = "b";
    return r;
  });
  int fd = connect_client();
  send_all(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_NE(r.find("X-Ok: yes\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("Set-Cookie"), std::string::npos) << r;
  EXPECT_EQ(r.find("X-Injected"), std::string::npos) << r;
  EXPECT_EQ(r.find("Bad Name"), std::string::npos) << r;
  ::close(fd);
}

TEST_F(AdminFixture, IdleAndHeaderTimeoutsCloseTheConnection) {
  ServeOptions opt;
  opt.idle_timeout = 100ms;
  opt.header_timeout = 150ms;
  start(standard_handler(), opt);

  int fd = connect_client();
  auto t0 = Clock::now();
  std::string all = read_until_close(fd);
  EXPECT_EQ(all, "");
  auto idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(idle_ms, 90);
  EXPECT_LT(idle_ms, 1000);
  ::close(fd);

  // A head that never completes is cut off after header_timeout, even while
  // bytes keep trickling in.
  fd = connect_client();
  t0 = Clock::now();
  send_all(fd, "GET /healthz HTTP/1.1\r\n");
  std::this_thread::sleep_for(60ms);
  send_all(fd, "Host: a\r\n");
  all = read_until_close(fd);
  auto head_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(all, "");
  EXPECT_GE(head_ms, 140);
  EXPECT_LT(head_ms, 1000);
  ::close(fd);

  // Between keep-alive requests the idle timeout applies again.
  fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(body_of(read_response(fd)), "ok");
  EXPECT_EQ(read_until_close(fd), "");
  ::close(fd);
}

TEST_F(AdminFixture, MaxRequestsClosesTheConnection) {
  ServeOptions opt;
  opt.max_requests = 2;
  start(standard_handler(), opt);
  int fd = connect_client();
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = read_response(fd);
  EXPECT_EQ(r.find("Connection: close"), std::string::npos);
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string all = read_until_close(fd);
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(all.find("<still open>"), std::string::npos);
  ::close(fd);
}

TEST_F(AdminFixture, ShutdownClosesIdleConnectionsAndEndsBusyOnes) {
  std::atomic<bool> stop{false};
  ServeOptions opt;
  opt.stop = &stop;  // idle_timeout stays 30s: only the flag can end these quickly
  start(standard_handler(), opt);
  int idle = connect_client();
  send_all(idle, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = read_response(idle);
  EXPECT_EQ(r.find("Connection: close"), std::string::npos) << r;
  int busy = connect_client();
  send_all(busy, "GET /healthz HTTP/1.1\r\n");  // head not finished yet
  std::this_thread::sleep_for(50ms);

  auto t0 = Clock::now();
  stop = true;
  EXPECT_EQ(read_until_close(idle), "");
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), 1000);
  send_all(busy, "Host: a\r\n\r\n");
  std::string all = read_until_close(busy);
  EXPECT_EQ(body_of(all), "ok") << all;
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos) << all;
  ::close(idle);
  ::close(busy);
}

TEST(AdminHandler, Routes) {
  Handler h = make_admin_handler(nullptr);
  EXPECT_EQ(h("GET", "/healthz", "", "").body, "ok");
  EXPECT_EQ(h("GET", "/status", "", "").status, 503);
  EXPECT_EQ(h("GET", "/status/", "", "").status, 404);
  EXPECT_EQ(h("PUT", "/healthz", "", "").status, 405);
  EXPECT_EQ(h("GET", "", "", "").status, 404);
  Handler j = make_admin_handler([] { return std::string("{}"); });
  Response r = j("GET", "/status", "", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "{}");
}

}  // namespace
}  // namespace gh::admin

namespace gh::admin {
namespace {

TEST(AdminHandler, CachePurgeParameters) {
  std::vector<PurgeRequest> seen;
  Handler h = make_admin_handler(nullptr, [&seen](const PurgeRequest& pr) {
    seen.push_back(pr);
    return PurgeResult{200, 3, {}};
  });
  Response r = h("POST", "/cache/purge", "url=http://Example.com/a?b=1&c=2", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find("\"purged\": 3"), std::string::npos) << r.body;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].url, "http://Example.com/a?b=1&c=2");   // the rest of the query, as sent
  EXPECT_TRUE(seen[0].route.empty());
  h("POST", "/cache/purge", "url=https%3A%2F%2Fh%2Fx%3Fq%3D1", "");
  EXPECT_EQ(seen.back().url, "https://h/x?q=1");              // an encoded URL is decoded once
  h("POST", "/cache/purge", "route=%2Fstatic&x=1", "");
  EXPECT_EQ(seen.back().route, "/static");
  EXPECT_TRUE(seen.back().url.empty());
  EXPECT_EQ(seen.size(), 3u);
}

TEST(AdminHandler, CachePurgeRefusals) {
  int calls = 0;
  Handler h = make_admin_handler(nullptr, [&calls](const PurgeRequest&) {
    ++calls;
    return PurgeResult{404, 0, "no route with cache has the path '/x'"};
  });
  EXPECT_EQ(h("POST", "/cache/purge", "", "").status, 400);
  EXPECT_EQ(h("POST", "/cache/purge", "route=/a&url=http://h/", "").status, 400);   // both
  EXPECT_EQ(h("POST", "/cache/purge", "other=1", "").status, 400);
  Response get = h("GET", "/cache/purge", "url=http://h/", "");
  EXPECT_EQ(get.status, 405);
  ASSERT_EQ(get.headers.size(), 1u);
  EXPECT_EQ(get.headers[0].second, "POST");
  EXPECT_EQ(calls, 0);
  Response nf = h("POST", "/cache/purge", "route=/x", "");
  EXPECT_EQ(nf.status, 404);
  EXPECT_NE(nf.body.find("no route with cache"), std::string::npos);
  EXPECT_EQ(make_admin_handler(nullptr)("POST", "/cache/purge", "route=/x", "").status, 503);
}

}  // namespace
}  // namespace gh::admin
