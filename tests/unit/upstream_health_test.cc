// Active health checks against real loopback listeners: single probes
// (status, range, refused, closed, garbage, timeout, request text) and the
// checker (down after `unhealthy` failures, up after `healthy` passes,
// consecutive counting, reload carry-over, keepalive release, log lines).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "upstream/health_checker.h"
#include "upstream/health_probe.h"

namespace gh::upstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A listening socket on 127.0.0.1 and a free port; returns the fd.
int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 64);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// A connection accepted on `fd` within `ms` milliseconds, or -1: the test
// origins' loops check their stop flag between tries.
int accept_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return -1;
  return ::accept(fd, nullptr, nullptr);
}

// A tiny origin on 127.0.0.1: answers each connection according to `mode`.
class Origin {
 public:
  enum class Mode { respond, close, hang, garbage };

  Origin() {
    fd_ = listen_loopback(port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Origin() {
    stop_ = true;
    thread_.join();
    for (int c : hung_) ::close(c);
    ::close(fd_);
  }

  // Statuses answered in turn, cycling (one entry: always that status).
  void set_statuses(std::vector<int> s) {
    std::lock_guard lk(mu_);
    statuses_ = std::move(s);
    next_ = 0;
  }
  std::string last_request() {
    std::lock_guard lk(mu_);
    return last_request_;
  }

  uint16_t port = 0;
  std::atomic<Mode> mode{Mode::respond};
  std::atomic<int> hits{0};

 private:
  void loop() {
    while (!stop_) {
      int c = accept_within(fd_, 10);
      if (c < 0) continue;
      ++hits;
      Mode m = mode.load();
      if (m == Mode::hang) {
        hung_.push_back(c);
        continue;
      }
      std::string req = read_head(c);
      {
        std::lock_guard lk(mu_);
        last_request_ = req;
      }
      std::string out;
      if (m == Mode::respond) {
        int status;
        {
          std::lock_guard lk(mu_);
          status = statuses_[next_++ % statuses_.size()];
        }
        out = "HTTP/1.1 " + std::to_string(status) +
              " Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
      } else if (m == Mode::garbage) {
        out = "SPDY/9 nonsense\r\n\r\n";
      }
      if (!out.empty()) {
        ssize_t r = ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        (void)r;
      }
      ::close(c);
    }
  }
  static std::string read_head(int c) {
    std::string s;
    char buf[1024];
    while (s.find("\r\n\r\n") == std::string::npos && s.size() < 16384) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      s.append(buf, static_cast<size_t>(n));
    }
    return s;
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> hung_;
  std::mutex mu_;
  std::vector<int> statuses_{200};
  size_t next_ = 0;
  std::string last_request_;
};

// A loopback port with nothing listening (connections are refused).
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

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// ---- single probes ----

ProbeSpec spec_for(uint16_t port) {
  ProbeSpec s;
  s.host = "127.0.0.1";
  s.port = port;
  s.host_header = "127.0.0.1:" + std::to_string(port);
  s.path = "/healthz";
  s.timeout = 1000ms;
  return s;
}

ProbeResult probe(const ProbeSpec& spec) {
  net::asio::io_context ctx;
  Resolver resolver(ctx);
  std::optional<ProbeResult> out;
  net::asio::co_spawn(
      ctx, [&]() -> net::awaitable<void> { out = co_await run_probe(resolver, spec); },
      net::asio::detached);
  // Stop as soon as the answer is there: a name lookup may still linger.
  auto end = Clock::now() + 10s;
  while (!out && Clock::now() < end) ctx.run_one_for(50ms);
  ctx.stop();
  return out.value_or(ProbeResult{false, 0, "no answer", 0});
}

TEST(HealthProbe, PassesOnExpectedStatusAndSendsTheRequest) {
  Origin o;
  ProbeSpec s = spec_for(o.port);
  s.host_header = "example.internal:8000";
  ProbeResult r = probe(s);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(o.last_request(),
            "GET /healthz HTTP/1.1\r\nHost: example.internal:8000\r\n"
            "User-Agent: gatehouse-health\r\nConnection: close\r\n\r\n");
}

TEST(HealthProbe, StatusRangeIsInclusive) {
  Origin o;
  ProbeSpec s = spec_for(o.port);
  s.expect_min = 200;
  s.expect_max = 299;
  o.set_statuses({299});
  EXPECT_TRUE(probe(s).ok);
  o.set_statuses({200});
  EXPECT_TRUE(probe(s).ok);
  o.set_statuses({302});
  ProbeResult r = probe(s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.error, "status 302");
  o.set_statuses({199});
  EXPECT_FALSE(probe(s).ok);
  s.expect_min = s.expect_max = 404;
  o.set_statuses({404});
  EXPECT_TRUE(probe(s).ok);
}

TEST(HealthProbe, FailsOnServerError) {
  Origin o;
  o.set_statuses({500});
  ProbeResult r = probe(spec_for(o.port));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.error, "status 500");
}

TEST(HealthProbe, RefusedConnection) {
  ProbeResult r = probe(spec_for(dead_port()));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection refused");
}

TEST(HealthProbe, ClosedWithoutAnswer) {
  Origin o;
  o.mode = Origin::Mode::close;
  ProbeResult r = probe(spec_for(o.port));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "connection closed before the response");
}

TEST(HealthProbe, MalformedResponse) {
  Origin o;
  o.mode = Origin::Mode::garbage;
  ProbeResult r = probe(spec_for(o.port));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("malformed response", 0), 0u) << r.error;
}

TEST(HealthProbe, TimeoutBoundsASilentServer) {
  Origin o;
  o.mode = Origin::Mode::hang;
  ProbeSpec s = spec_for(o.port);
  s.timeout = 100ms;
  auto t0 = Clock::now();
  ProbeResult r = probe(s);
  int64_t took = ms_since(t0);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "timeout after 100ms");
  EXPECT_GE(r.duration_ms, 100);
  EXPECT_LT(took, 600);
}

TEST(HealthProbe, TlsTargetIsAConnectCheck) {
  Origin o;
  o.set_statuses({500});
  ProbeSpec s = spec_for(o.port);
  s.tls = true;
  ProbeResult r = probe(s);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 0);
  s.port = dead_port();
  EXPECT_EQ(probe(s).error, "connection refused");
}

// `streams` backends: a connect is the check, whatever the peer would answer
// (here a 500, which an HTTP check would fail), and an invalid path is not
// even looked at.
TEST(HealthProbe, TcpOnlyTargetIsAConnectCheck) {
  Origin o;
  o.set_statuses({500});
  ProbeSpec s = spec_for(o.port);
  s.tcp_only = true;
  s.path = "not a path";
  ProbeResult r = probe(s);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 0);
  s.port = dead_port();
  EXPECT_EQ(probe(s).error, "connection refused");
}

TEST(HealthProbe, RefusesPathsThatCouldSplitTheRequest) {
  EXPECT_EQ(build_probe_request("/a b", "h"), "");
  EXPECT_EQ(build_probe_request("/a\r\nX: y", "h"), "");
  EXPECT_EQ(build_probe_request("healthz", "h"), "");
  EXPECT_EQ(build_probe_request("", "h"), "");
  EXPECT_EQ(build_probe_request("/ok", "h\r\nX: y"), "");
  EXPECT_EQ(build_probe_request("/ok", ""), "");
  EXPECT_NE(build_probe_request("/ok?x=1", "h:80"), "");
  Origin o;
  ProbeSpec s = spec_for(o.port);
  s.path = "/x\r\n";
  ProbeResult r = probe(s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "invalid check path or host");
  EXPECT_EQ(o.hits.load(), 0);
}

TEST(HealthProbe, UnresolvableNameFailsWithinTheTimeout) {
  ProbeSpec s = spec_for(80);
  s.host = "no-such-host.invalid";
  s.timeout = 500ms;
  auto t0 = Clock::now();
  ProbeResult r = probe(s);
  EXPECT_FALSE(r.ok);
  EXPECT_LT(ms_since(t0), 1500);
}

// ---- the checker ----

struct Farm {
  std::shared_ptr<std::vector<std::unique_ptr<Backend>>> owned =
      std::make_shared<std::vector<std::unique_ptr<Backend>>>();

  Backend* add(uint16_t port) {
    auto b = std::make_unique<Backend>();
    b->host = "127.0.0.1";
    b->port = port;
    b->name = "127.0.0.1:" + std::to_string(port);
    owned->push_back(std::move(b));
    return owned->back().get();
  }
};

config::HealthCheck fast_check() {
  config::HealthCheck hc;
  hc.enabled = true;
  hc.path = "/healthz";
  hc.interval = 50ms;
  hc.timeout = 500ms;
  hc.healthy = 2;
  hc.unhealthy = 3;
  return hc;
}

CheckTarget target(Backend* b, config::HealthCheck hc = fast_check(), std::string route = "/api") {
  CheckTarget t;
  t.backend = b;
  t.check = hc;
  t.host_header = b ? b->name : "";
  t.route = std::move(route);
  return t;
}

bool up(const Backend* b) { return b->active_up.load(); }

TEST(HealthChecker, DownAfterUnhealthyFailuresAndBackAfterHealthyPasses) {
  Origin o;
  o.set_statuses({500});
  Farm f;
  Backend* b = f.add(o.port);
  HealthChecker hc;
  testing::internal::CaptureStderr();
  auto t0 = Clock::now();
  hc.set_targets({target(b)}, f.owned);
  EXPECT_TRUE(up(b));  // optimistic start
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  int64_t took_down = ms_since(t0);
  EXPECT_GE(o.hits.load(), 3);
  // interval × unhealthy, plus the first-check jitter (≤ interval/2) and slack.
  EXPECT_LT(took_down, 50 * 3 + 25 + 400);
  auto st = hc.status(b);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->up);
  EXPECT_TRUE(st->checked);
  EXPECT_FALSE(st->last_ok);
  EXPECT_EQ(st->last_status, 500);
  EXPECT_EQ(st->last_error, "status 500");
  EXPECT_GE(st->consecutive_failures, 3u);
  EXPECT_EQ(st->consecutive_passes, 0u);
  EXPECT_EQ(st->interval, 50ms);

  o.set_statuses({200});
  auto t1 = Clock::now();
  ASSERT_TRUE(wait_until([&] { return up(b); }, 3s));
  EXPECT_LT(ms_since(t1), 50 * 2 + 400);
  st = hc.status(b);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->up);
  EXPECT_TRUE(st->last_ok);
  EXPECT_EQ(st->last_status, 200);
  EXPECT_EQ(st->last_error, "");
  EXPECT_GE(st->consecutive_passes, 2u);
  EXPECT_EQ(st->consecutive_failures, 0u);
  hc.stop();
  std::string log = testing::internal::GetCapturedStderr();
  std::string down = "backend " + b->name + " (route /api) is DOWN: status 500";
  std::string back = "backend " + b->name + " (route /api) is UP after 2 passing checks";
  EXPECT_NE(log.find(down), std::string::npos) << log;
  EXPECT_EQ(log.find(down), log.rfind(down)) << "logged once per transition";
  EXPECT_NE(log.find(back), std::string::npos) << log;
}

TEST(HealthChecker, RefusedBackendGoesDownWithReason) {
  Farm f;
  Backend* b = f.add(dead_port());
  HealthChecker hc;
  hc.set_targets({target(b)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  auto st = hc.status(b);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->last_error, "connection refused");
  EXPECT_EQ(st->last_status, 0);
}

TEST(HealthChecker, FailuresBelowTheThresholdKeepItUp) {
  Origin o;
  o.set_statuses({500, 500, 200});  // never three failures in a row
  Farm f;
  Backend* b = f.add(o.port);
  HealthChecker hc;
  hc.set_targets({target(b)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return o.hits.load() >= 10; }, 5s));
  EXPECT_TRUE(up(b));
  auto st = hc.status(b);
  ASSERT_TRUE(st);
  EXPECT_GE(st->checks_failed, 5u);
  EXPECT_LE(st->consecutive_failures, 2u);
}

TEST(HealthChecker, ExpectedStatusRangeIsRespected) {
  Origin teapot, redirect;
  teapot.set_statuses({418});
  redirect.set_statuses({302});
  Farm f;
  Backend* a = f.add(teapot.port);
  Backend* b = f.add(redirect.port);
  auto hc418 = fast_check();
  hc418.expect_min = hc418.expect_max = 418;
  auto hc2xx = fast_check();
  hc2xx.expect_min = 200;
  hc2xx.expect_max = 299;
  HealthChecker hc;
  hc.set_targets({target(a, hc418), target(b, hc2xx)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  ASSERT_TRUE(wait_until([&] { return teapot.hits.load() >= 5; }, 3s));
  EXPECT_TRUE(up(a));
  EXPECT_EQ(hc.status(a)->last_status, 418);
  EXPECT_EQ(hc.status(b)->last_error, "status 302");
}

TEST(HealthChecker, TimeoutIsRespected) {
  Origin o;
  o.mode = Origin::Mode::hang;
  Farm f;
  Backend* b = f.add(o.port);
  auto check = fast_check();
  check.timeout = 80ms;
  check.unhealthy = 2;
  HealthChecker hc;
  auto t0 = Clock::now();
  hc.set_targets({target(b, check)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  // Two probes of at most 80ms each, started 50ms apart or back to back.
  EXPECT_LT(ms_since(t0), 25 + 2 * 80 + 400);
  auto st = hc.status(b);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->last_error, "timeout after 80ms");
  EXPECT_GE(st->last_duration_ms, 80);
  EXPECT_LT(st->last_duration_ms, 400);
}

TEST(HealthChecker, ClosingServerCountsAsFailure) {
  Origin o;
  o.mode = Origin::Mode::close;
  Farm f;
  Backend* b = f.add(o.port);
  HealthChecker hc;
  hc.set_targets({target(b)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  EXPECT_EQ(hc.status(b)->last_error, "connection closed before the response");
}

TEST(HealthChecker, ComingBackClearsPassiveBackoff) {
  Origin o;
  o.set_statuses({500});
  Farm f;
  Backend* b = f.add(o.port);
  HealthChecker hc;
  hc.set_targets({target(b)}, f.owned);
  ASSERT_TRUE(wait_until([&] { return !up(b); }, 3s));
  b->passive_down_until = steady_ms() + 30000;
  b->consecutive_failures = 5;
  o.set_statuses({200});
  ASSERT_TRUE(wait_until([&] { return up(b); }, 3s));
  EXPECT_EQ(b->passive_down_until.load(), 0);
  EXPECT_EQ(b->consecutive_failures.load(), 0u);
  EXPECT_TRUE(b->usable(steady_ms()));
}

TEST(HealthChecker, ReloadKeepsVerdictAndReleasesTheOldSnapshot) {
  uint16_t port = dead_port();
  HealthChecker hc;
  std::weak_ptr<void> old_owner;
  Backend* old_b;
  {
    Farm f;
    old_b = f.add(port);
    old_owner = f.owned;
    hc.set_targets({target(old_b)}, f.owned);
    ASSERT_TRUE(wait_until([&] { return !up(old_b); }, 3s));
  }
  // Only the checker holds the old snapshot now.
  ASSERT_FALSE(old_owner.expired());

  Farm g;
  Backend* nb = g.add(port);
  Backend* other = g.add(port);  // same address, another route: its own state
  hc.set_targets({target(nb), target(other, fast_check(), "/other")}, g.owned);
  EXPECT_FALSE(up(nb)) << "a reload must not revive a dead backend";
  EXPECT_TRUE(up(other)) << "new targets start optimistic";
  auto st = hc.status(nb);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->up);
  EXPECT_GE(st->consecutive_failures, 3u);
  EXPECT_FALSE(hc.status(old_b));
  EXPECT_TRUE(wait_until([&] { return old_owner.expired(); }, 3s));
  EXPECT_TRUE(wait_until([&] { return !up(other); }, 3s));
}

TEST(HealthChecker, SkipsDisabledNullAndDuplicateTargets) {
  Origin o;
  Farm f;
  Backend* off = f.add(dead_port());
  Backend* on = f.add(o.port);
  auto disabled = fast_check();
  disabled.enabled = false;
  HealthChecker hc;
  hc.set_targets({target(off, disabled), target(nullptr), target(on), target(on)}, f.owned);
  EXPECT_FALSE(hc.status(off));
  EXPECT_TRUE(hc.status(on));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(up(off));
  EXPECT_TRUE(up(on));
  // One target for `on`: about one probe per interval, not two.
  int hits = o.hits.load();
  EXPECT_GE(hits, 3);
  EXPECT_LE(hits, 9);
}

TEST(HealthChecker, StopIsPromptAndIdempotentEvenWithProbesInFlight) {
  Origin o;
  o.mode = Origin::Mode::hang;
  Farm f;
  Backend* b = f.add(o.port);
  auto check = fast_check();
  check.timeout = 5000ms;
  auto t0 = Clock::now();
  {
    HealthChecker hc;
    hc.set_targets({target(b, check)}, f.owned);
    ASSERT_TRUE(wait_until([&] { return o.hits.load() >= 1; }, 3s));
    hc.stop();
    hc.stop();
    hc.set_targets({target(b, check)}, f.owned);  // ignored after stop
    EXPECT_FALSE(hc.status(b));
  }
  EXPECT_LT(ms_since(t0), 2000);
  EXPECT_TRUE(up(b));
}

// An origin that answers 200 after `delay`, one thread per connection, and
// counts how many probes it holds at once.
class SlowOrigin {
 public:
  explicit SlowOrigin(std::chrono::milliseconds delay) : delay_(delay) {
    fd_ = listen_loopback(port);
    acceptor_ = std::thread([this] { loop(); });
  }
  ~SlowOrigin() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }

  uint16_t port = 0;
  std::atomic<int> hits{0};
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};

 private:
  void loop() {
    while (!stop_) {
      int c = accept_within(fd_, 10);
      if (c < 0) continue;
      ++hits;
      int now = ++active;
      for (int m = max_active.load(); now > m && !max_active.compare_exchange_weak(m, now);) {
      }
      conns_.emplace_back([this, c] {
        char buf[2048];
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 1000) > 0) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          (void)n;
        }
        std::this_thread::sleep_for(delay_);
        // Counted as done before the answer, so the prober's next connect
        // never finds this one still counted.
        --active;
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t r = ::send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
        (void)r;
        ::close(c);
      });
    }
  }

  std::chrono::milliseconds delay_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

// interval 30ms, timeout 1s, the backend takes 120ms: each check runs to its
// end, the next starts right after it (it is overdue), and they never overlap.
TEST(HealthChecker, ChecksSlowerThanTheIntervalRunBackToBackWithoutOverlap) {
  SlowOrigin o(120ms);
  Farm f;
  Backend* b = f.add(o.port);
  auto check = fast_check();
  check.interval = 30ms;
  check.timeout = 1000ms;
  HealthChecker hc;
  hc.set_targets({target(b, check)}, f.owned);
  std::this_thread::sleep_for(800ms);
  auto st = hc.status(b);
  hc.stop();
  EXPECT_EQ(o.max_active.load(), 1);
  // About 800/120 probes: back to back, not one per timeout nor per interval.
  EXPECT_GE(o.hits.load(), 4);
  EXPECT_LE(o.hits.load(), 8);
  EXPECT_TRUE(up(b));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->last_ok) << st->last_error;
  EXPECT_GE(st->last_duration_ms, 120);
  EXPECT_EQ(st->checks_failed, 0u);
}

// A reload while a probe is in flight: the new target of the same backend
// waits for it instead of probing alongside.
TEST(HealthChecker, ReloadDoesNotOverlapAProbeInFlight) {
  SlowOrigin o(150ms);
  auto check = fast_check();
  check.interval = 30ms;
  check.timeout = 1000ms;
  HealthChecker hc;
  std::vector<Farm> farms(4);
  hc.set_targets({target(farms[0].add(o.port), check)}, farms[0].owned);
  for (size_t i = 1; i < farms.size(); ++i) {
    ASSERT_TRUE(wait_until([&] { return o.active.load() == 1; }, 2s));
    std::this_thread::sleep_for(20ms);
    hc.set_targets({target(farms[i].add(o.port), check)}, farms[i].owned);
  }
  std::this_thread::sleep_for(500ms);
  hc.stop();
  EXPECT_EQ(o.max_active.load(), 1);
  EXPECT_GE(o.hits.load(), 4);
}

}  // namespace
}  // namespace gh::upstream
