#include "upstream/health_checker.h"

#include <algorithm>
#include <random>

#include "core/log.h"

namespace gh::upstream {

using namespace gh::net;

// One checked backend. The loop state lives on the checker thread; `st` and
// `stopped` are shared with set_targets/status callers under `mu`.
struct HealthChecker::Target {
  explicit Target(asio::io_context& ctx) : sleep(ctx) {}
  CheckTarget conf;
  std::string key;                       // route + '\n' + backend name: identity across reloads
  std::shared_ptr<const void> keepalive; // owner of conf.backend
  asio::steady_timer sleep;              // checker thread only
  std::mutex mu;
  CheckStatus st;
  bool stopped = false;                  // replaced or checker stopped: write nothing more
};

namespace {

// Small random delay before a target's first probe, so that a config with
// many backends does not probe them all in the same instant.
std::chrono::milliseconds first_delay(std::chrono::milliseconds interval) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  int64_t span = std::min<int64_t>(interval.count() / 2, 1000);
  if (span <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, span)(rng));
}

bool is_stopped(std::mutex& mu, const bool& stopped) {
  std::lock_guard lk(mu);
  return stopped;
}

}  // namespace

HealthChecker::HealthChecker()
    : work_(asio::make_work_guard(ctx_)), resolver_(ctx_) {
  thread_ = std::thread([this] {
    // A throw here would be a bug in a probe; keep checking rather than die.
    for (;;) {
      try {
        ctx_.run();
        return;
      } catch (const std::exception& e) {
        GH_ERROR("health checker: %s", e.what());
      } catch (...) {
        GH_ERROR("health checker: unknown exception");
      }
    }
  });
}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::stop() {
  std::unordered_map<const Backend*, std::shared_ptr<Target>> old;
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    old.swap(targets_);
  }
  for (auto& [b, t] : old) {
    std::lock_guard lk(t->mu);
    t->stopped = true;
  }
  work_.reset();
  ctx_.stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void HealthChecker::set_targets(std::vector<CheckTarget> targets,
                                std::shared_ptr<const void> keepalive) {
  std::lock_guard lk(mu_);
  if (stopped_) return;

  std::unordered_map<std::string, std::shared_ptr<Target>> previous;
  std::vector<std::shared_ptr<Target>> retired;
  for (auto& [b, t] : targets_) {
    std::lock_guard tl(t->mu);
    t->stopped = true;
    previous.emplace(t->key, t);
    retired.push_back(t);
  }

  std::unordered_map<const Backend*, std::shared_ptr<Target>> next;
  std::vector<std::shared_ptr<Target>> fresh;
  for (auto& ct : targets) {
    if (!ct.backend || !ct.check.enabled || next.count(ct.backend)) continue;
    auto t = std::make_shared<Target>(ctx_);
    t->key = ct.route + '\n' + ct.backend->name;
    t->conf = std::move(ct);
    t->keepalive = keepalive;
    if (auto it = previous.find(t->key); it != previous.end()) {
      std::lock_guard tl(it->second->mu);
      t->st = it->second->st;
    }
    t->st.interval = t->conf.check.interval;
    t->conf.backend->active_up.store(t->st.up, std::memory_order_relaxed);
    next.emplace(t->conf.backend, t);
    fresh.push_back(std::move(t));
  }
  targets_.swap(next);

  asio::post(ctx_, [this, retired = std::move(retired), fresh = std::move(fresh)] {
    for (auto& t : retired) t->sleep.cancel();
    for (auto& t : fresh) asio::co_spawn(ctx_, check_loop(t), asio::detached);
  });
}

std::optional<CheckStatus> HealthChecker::status(const Backend* b) const {
  std::shared_ptr<Target> t;
  {
    std::lock_guard lk(mu_);
    auto it = targets_.find(b);
    if (it == targets_.end()) return std::nullopt;
    t = it->second;
  }
  std::lock_guard tl(t->mu);
  return t->st;
}

awaitable<void> HealthChecker::check_loop(std::shared_ptr<Target> t) {
  const config::HealthCheck& hc = t->conf.check;
  // A zero interval would spin; config refuses it, this keeps bad input harmless.
  const auto interval = std::max(hc.interval, std::chrono::milliseconds(10));

  t->sleep.expires_after(first_delay(interval));
  co_await t->sleep.async_wait(nothrow);

  ProbeSpec spec;
  spec.host = t->conf.backend->host;
  spec.port = t->conf.backend->port;
  spec.host_header = t->conf.host_header.empty() ? t->conf.backend->name : t->conf.host_header;
  spec.path = hc.path;
  spec.timeout = hc.timeout;
  spec.expect_min = hc.expect_min;
  spec.expect_max = hc.expect_max;
  spec.tls = t->conf.tls;
  spec.tcp_only = t->conf.tcp_only;

  for (;;) {
    if (is_stopped(t->mu, t->stopped)) co_return;
    // The target this one replaced on a reload may still be probing.
    while (probing_.count(t->key)) {
      t->sleep.expires_after(std::chrono::milliseconds(10));
      co_await t->sleep.async_wait(nothrow);
      if (is_stopped(t->mu, t->stopped)) co_return;
    }
    auto started = std::chrono::steady_clock::now();
    probing_.insert(t->key);
    ProbeResult r = co_await run_probe(resolver_, spec);
    probing_.erase(t->key);
    apply(*t, r);
    if (is_stopped(t->mu, t->stopped)) co_return;
    // Interval from start to start, so slow probes do not stretch the period;
    // a probe slower than the interval (timeout > interval) is followed by
    // the next one at once, never overlapped by it.
    t->sleep.expires_at(started + interval);
    co_await t->sleep.async_wait(nothrow);
  }
}

void HealthChecker::apply(Target& t, const ProbeResult& r) {
  std::lock_guard lk(t.mu);
  if (t.stopped) return;
  CheckStatus& st = t.st;
  Backend& b = *t.conf.backend;
  st.checked = true;
  st.last_time = std::chrono::system_clock::now();
  st.last_ok = r.ok;
  st.last_status = r.status;
  st.last_error = r.error;
  st.last_duration_ms = r.duration_ms;
  ++st.checks;

  std::string where = b.name;
  if (!t.conf.route.empty()) where += " (route " + t.conf.route + ")";

  if (r.ok) {
    ++st.consecutive_passes;
    st.consecutive_failures = 0;
    if (!st.up && st.consecutive_passes >= std::max(t.conf.check.healthy, 1u)) {
      st.up = true;
      // It just proved reachable several times: a passive back-off left over
      // from when it died would only delay its return.
      b.passive_down_until.store(0, std::memory_order_relaxed);
      b.consecutive_failures.store(0, std::memory_order_relaxed);
      b.active_up.store(true, std::memory_order_relaxed);
      GH_INFO("backend %s is UP after %u passing checks", where.c_str(), st.consecutive_passes);
    }
  } else {
    ++st.checks_failed;
    ++st.consecutive_failures;
    st.consecutive_passes = 0;
    if (st.up && st.consecutive_failures >= std::max(t.conf.check.unhealthy, 1u)) {
      st.up = false;
      b.active_up.store(false, std::memory_order_relaxed);
      GH_WARN("backend %s is DOWN: %s", where.c_str(), r.error.c_str());
    }
  }
}

}  // namespace gh::upstream
