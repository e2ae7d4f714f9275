#include "app/control.h"

#include <unistd.h>

#include "app/config_load.h"
#include "core/log.h"
#include "core/systemd_notify.h"
#include "net/listener_plan.h"
#include "proxy/metrics.h"
#include "proxy/runtime.h"
#include "proxy/serve.h"

namespace gh::app {

// How long a new process may take from exec to serving before the upgrade
// is given up (configs with many certificates load in seconds, not minutes).
constexpr std::chrono::seconds kUpgradeReadyTimeout{60};

sigset_t block_control_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return sigs;
}

void apply_acme(acme::Manager& acme, const config::Config& cfg) {
  acme.apply(cfg.ssl, cfg.ssl.port.has_value());
}

Control::Control(std::string config_file, std::string exe, std::vector<std::string> argv,
                 net::Server& server, proxy::Shared& shared, upstream::HealthChecker& checker)
    : file_(std::move(config_file)),
      exe_(std::move(exe)),
      argv_(std::move(argv)),
      server_(server),
      shared_(shared),
      checker_(checker),
      started_(shared.runtime.load()->cfg.server) {}

namespace {

const char* format_name(config::AccessLogFormat f) {
  return f == config::AccessLogFormat::json ? "json" : "combined";
}

// Settings that shape the process itself (worker threads, the connection
// cap, the log writer) are taken once, at start: a reload that changes one
// says so rather than passing in silence. An upgrade (SIGUSR2) or a restart
// applies them.
void warn_restart_only(const config::Server& started, const config::Server& next) {
  auto warn = [](const char* key, const std::string& from, const std::string& to) {
    GH_WARN("reload: server '%s' changed from %s to %s; it takes effect at the next start or "
            "binary upgrade (SIGUSR2)",
            key, from.c_str(), to.c_str());
  };
  auto workers = [](unsigned n) { return n ? std::to_string(n) : std::string("auto"); };
  if (started.workers != next.workers) warn("workers", workers(started.workers), workers(next.workers));
  if (started.limits.max_connections != next.limits.max_connections)
    warn("limits.max_connections", std::to_string(started.limits.max_connections),
         std::to_string(next.limits.max_connections));
  if (started.access_log != next.access_log) warn("access_log", started.access_log, next.access_log);
  if (started.access_log_format != next.access_log_format)
    warn("access_log_format", format_name(started.access_log_format), format_name(next.access_log_format));
}

}  // namespace

Control::~Control() {
  closing_.store(true);
  std::lock_guard lk(mu_);
  if (upgrade_thread_.joinable()) upgrade_thread_.join();
}

std::chrono::milliseconds Control::drain_time() const {
  auto rt = shared_.runtime.load();
  return rt->cfg.server.timeouts.shutdown_drain;
}

void Control::start(const sigset_t& sigs) {
  std::thread([this, sigs] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) continue;
      if (sig == SIGHUP) {
        reload();
      } else if (sig == SIGUSR1) {
        reopen_log();
      } else if (sig == SIGUSR2) {
        upgrade();
      } else {
        auto drain = drain_time();
        GH_INFO("%s: draining (up to %lld ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                static_cast<long long>(drain.count()));
        core::systemd_notify("STOPPING=1\nSTATUS=draining");
        // The admin listener stays open so health checks see 503.
        server_.shutdown(drain, "admin");
      }
    }
  }).detach();
}

void Control::reload() {
  if (server_.draining()) {
    GH_WARN("SIGHUP ignored: draining");
    return;
  }
  core::systemd_notify(core::systemd_reloading_state() + "\nSTATUS=reloading");
  auto rejected = [](const std::string& why) {
    proxy::note_reload(false);
    core::systemd_notify("READY=1\nSTATUS=serving; reload rejected: " + why);
  };
  auto r = load_checked(file_);
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) GH_ERROR("reload rejected: %s", e.str().c_str());
    rejected(r.errors.front().str());
    return;
  }
  log_warnings(r);
  warn_restart_only(started_, r.config->server);
  auto wanted = net::listeners_for(*r.config);
  std::string err;
  // Backends that stay keep their counters and passive health.
  auto next = proxy::build_runtime(std::move(*r.config), err, shared_.runtime.load().get());
  if (!next) {
    GH_ERROR("reload rejected: %s", err.c_str());
    rejected(err);
    return;
  }
  const std::shared_ptr<const proxy::Runtime> applied = next;
  // New listeners are bound first (a failure changes nothing); the new
  // snapshot is published before any listener starts or changes kind.
  bool ok = server_.apply_listeners(wanted, err, [&] {
    checker_.set_targets(proxy::health_targets(*next), next);
    shared_.runtime.publish(std::move(next));
  });
  if (!ok) {
    GH_ERROR("reload rejected: %s", err.c_str());
    rejected(err);
    return;
  }
  if (acme_) apply_acme(*acme_, applied->cfg);
  proxy::note_reload(true);
  GH_INFO("configuration reloaded from %s", file_.c_str());
  core::systemd_notify("READY=1\nSTATUS=serving; configuration reloaded");
}

void Control::reopen_log() {
  if (shared_.access_log.reopen()) return;   // the writer logs the reopen
  GH_INFO("SIGUSR1: the access log is not a file; nothing to reopen");
}

void Control::upgrade() {
  if (server_.draining()) {
    GH_WARN("SIGUSR2 ignored: draining");
    return;
  }
  if (upgrading_.exchange(true)) {
    GH_WARN("SIGUSR2 ignored: an upgrade is already starting");
    return;
  }
  std::lock_guard lk(mu_);
  if (upgrade_thread_.joinable()) upgrade_thread_.join();   // the previous, failed one
  if (exe_.empty()) {
    GH_ERROR("upgrade failed: the path of the running binary is unknown");
    upgrading_.store(false);
    return;
  }
  auto up = std::make_unique<net::Upgrade>();
  std::string err;
  auto sockets = server_.listening_sockets();
  if (!up->start(exe_, argv_, sockets, err)) {
    GH_ERROR("upgrade failed: %s", err.c_str());
    upgrading_.store(false);
    return;
  }
  GH_INFO("upgrade: started %s as pid %d with %zu listening sockets", exe_.c_str(),
          static_cast<int>(up->pid()), sockets.size());
  // Waited for on its own thread: signals (a SIGTERM, say) are still taken.
  upgrade_thread_ = std::thread([this, up = std::move(up)]() mutable { watch_upgrade(std::move(up)); });
}

void Control::watch_upgrade(std::unique_ptr<net::Upgrade> up) {
  const auto until = std::chrono::steady_clock::now() + kUpgradeReadyTimeout;
  std::string detail;
  for (;;) {
    auto o = up->wait(std::chrono::milliseconds(200), detail);
    if (o == net::Upgrade::Outcome::ready) break;
    if (o == net::Upgrade::Outcome::exited) {
      GH_ERROR("upgrade failed: the new process %s; still serving", detail.c_str());
      upgrading_.store(false);
      return;
    }
    if (closing_.load() || std::chrono::steady_clock::now() >= until) {
      up->terminate(detail);
      GH_ERROR("upgrade failed: the new process was not ready in time (%s); still serving",
               detail.c_str());
      upgrading_.store(false);
      return;
    }
  }
  auto drain = drain_time();
  GH_INFO("upgrade: pid %d serves; draining (up to %lld ms)", static_cast<int>(up->pid()),
          static_cast<long long>(drain.count()));
  // No STOPPING=1 to systemd: the new process is the service's main
  // process now (it sent MAINPID=), and the service is not stopping.
  server_.shutdown(drain);
}

}  // namespace gh::app
