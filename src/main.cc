// argv -> config -> server; nothing else.
#include <brotli/encode.h>
#include <curl/curl.h>

#include <hiredis/hiredis.h>
#include <modsecurity/modsecurity.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <boost/version.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "admin/admin_server.h"
#include "admin/admin_token.h"
#include "admin/metrics.h"
#include "app/config_load.h"
#include "app/control.h"
#include "admin/status.h"
#include "proxy/cache_purge.h"
#include "config/config.h"
#include "core/heap.h"
#include "core/log.h"
#include "core/systemd_notify.h"
#include "net/inherit.h"
#include "net/listener_plan.h"
#include "net/server.h"
#include "policy/blocking.h"
#include "policy/jwks_source.h"
#include "policy/redis_buckets.h"
#include "proxy/serve.h"

namespace {

using gh::app::load_checked;
using gh::app::log_warnings;

int usage() {
  std::fprintf(stderr,
               "usage: gatehouse [run] [-c FILE]   serve (default config: gatehouse.yaml)\n"
               "       gatehouse check [-c FILE]   validate the config only\n"
               "       gatehouse version           print versions\n");
  return 2;
}

// Errors and warnings in file order, one FILE:LINE:COL line each.
void print_errors(const gh::config::LoadResult& res) {
  std::vector<const gh::config::Error*> all;
  for (const auto& e : res.errors) all.push_back(&e);
  for (const auto& w : res.warnings) all.push_back(&w);
  std::stable_sort(all.begin(), all.end(), [](const auto* a, const auto* b) {
    return a->line != b->line ? a->line < b->line : a->col < b->col;
  });
  for (const auto* e : all) std::fprintf(stderr, "%s\n", e->str().c_str());
}

// The linked libraries: as loaded at run time where the library can say
// (a distribution update changes them without a rebuild), else as compiled
// against (header-only Boost.Asio, yaml-cpp, hiredis, libmodsecurity).
int cmd_version() {
  std::printf("gatehouse %s\n", GH_VERSION);
  std::printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("  nghttp2 %s\n", nghttp2_version(0)->version_str);
  std::printf("  libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
  std::printf("  libmodsecurity %s\n", MODSECURITY_VERSION);
  std::printf("  hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
  std::printf("  zlib %s\n", zlibVersion());
  const uint32_t br = BrotliEncoderVersion();
  std::printf("  brotli %u.%u.%u\n", br >> 24, (br >> 12) & 0xfff, br & 0xfff);
  std::printf("  zstd %s\n", ZSTD_versionString());
  std::printf("  Boost.Asio %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
              BOOST_VERSION % 100);
  std::printf("  yaml-cpp 0.7\n");
  return 0;
}

// Exit 1 on errors; warnings alone are printed and the config passes.
int cmd_check(const std::string& file) {
  auto res = load_checked(file);
  print_errors(res);
  if (!res.errors.empty()) return 1;
  std::printf("%s: ok (%zu routes", file.c_str(), res.config->server.reverse_proxy.size());
  // Streams are named only when there are some: the line stays as it was
  // for an HTTP-only file.
  if (!res.config->streams.empty()) std::printf(", %zu streams", res.config->streams.size());
  if (!res.warnings.empty()) std::printf(", %zu warnings", res.warnings.size());
  std::printf(")\n");
  return 0;
}

int cmd_run(const std::string& file, std::vector<std::string> argv) {
  const double started = std::chrono::duration<double>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  gh::core::tune_heap();   // before any thread, so every arena starts with it
  // Before any thread: what a binary upgrade's old process handed over.
  std::string err;
  gh::net::Inheritance inherited = gh::net::take_inheritance(err);
  if (!err.empty()) GH_ERROR("%s", err.c_str());
  const std::string exe = gh::net::own_binary_path();

  auto res = load_checked(file);
  if (!res.errors.empty()) {
    print_errors(res);
    return 1;
  }
  log_warnings(res);
  gh::config::Config cfg = std::move(*res.config);

  // Signals are taken synchronously by one thread (app/control.h); every
  // other thread inherits the blocked mask.
  const sigset_t sigs = gh::app::block_control_signals();

  gh::proxy::Shared shared;
  if (!shared.access_log.open(cfg.server.access_log, cfg.server.access_log_format, err)) {
    GH_ERROR("%s", err.c_str());
    return 1;
  }
  gh::net::Server server(cfg.server.workers, cfg.server.limits.max_connections);
  const auto listeners = gh::net::listeners_for(cfg);
  auto rt = gh::proxy::build_runtime(std::move(cfg), err);
  if (!rt) {
    GH_ERROR("%s", err.c_str());
    return 1;
  }
  // Stored ACME certificates are published before any listener accepts.
  gh::acme::Manager acme;
  gh::app::apply_acme(acme, rt->cfg);
  server.set_inherited(std::move(inherited.sockets));
  for (const auto& l : listeners) {
    if (!server.listen(l, err)) {
      GH_ERROR("%s", err.c_str());
      return 1;
    }
  }
  if (size_t n = server.close_unused_inherited())
    GH_INFO("closed %zu inherited listening sockets the config no longer has", n);
  gh::upstream::HealthChecker checker;
  checker.set_targets(gh::proxy::health_targets(*rt), rt);
  shared.runtime.publish(std::move(rt));
  gh::proxy::Proxy proxy(server, shared);

  gh::app::Control control(file, exe, std::move(argv), server, shared, checker);
  control.set_acme(&acme);
  control.start(sigs);
  auto proxy_handler = proxy.handler();
  // The admin listener shows backend state; everything else is proxied.
  auto status_json = [&shared, &checker] {
    auto rt = shared.runtime.load();
    std::vector<gh::admin::RouteStatusView> views;
    for (const auto& rr : rt->routes) {
      views.push_back(gh::admin::make_route_view(*rr.conf, rr.backends, &checker));
      if (const gh::policy::CacheRule* c = rr.pipeline->cache()) {
        views.back().cache = c->store().stats();
        views.back().cache_max_bytes = c->max_size();
      }
    }
    const gh::policy::RateLimitStoreStats rl = gh::policy::rate_limit_store_stats();
    return gh::admin::render_status_json(views, gh::admin::RateLimitStatusView{rl.decisions, rl.errors});
  };
  auto purge = [&shared](const gh::admin::PurgeRequest& pr) {
    auto rt = shared.runtime.load();
    gh::proxy::CachePurge p = pr.url.empty() ? gh::proxy::purge_cache_route(*rt, pr.route)
                                             : gh::proxy::purge_cache_url(*rt, pr.url);
    if (p.status == 200)
      GH_INFO("cache: purged %llu stored responses (%s %s)", static_cast<unsigned long long>(p.purged),
              pr.url.empty() ? "route" : "url", pr.url.empty() ? pr.route.c_str() : pr.url.c_str());
    return gh::admin::PurgeResult{p.status, p.purged, std::move(p.error)};
  };
  // admin.token_file as the current snapshot holds it: a reload rereads the file.
  auto admin_token = [&shared] { return shared.runtime.load()->cfg.admin.token; };
  // GET /metrics: the workers' statistics, summed on the scraping thread.
  auto metrics_text = [&shared, &server, &proxy, started] {
    auto rt = shared.runtime.load();
    gh::admin::MetricsSources src;
    src.runtime = rt.get();
    src.workers = proxy.worker_states();
    src.open_connections = gh::net::Server::open_connections.load(std::memory_order_relaxed);
    const gh::policy::RateLimitStoreStats rl = gh::policy::rate_limit_store_stats();
    src.rate_limit_store_decisions = rl.decisions;
    src.rate_limit_store_errors = rl.errors;
    src.start_time_seconds = started;
    return gh::admin::render_metrics(src);
  };
  server.run([&](gh::net::Worker& w, gh::net::Socket s, gh::net::tcp::endpoint peer,
                 std::shared_ptr<const gh::net::ListenerSpec> spec,
                 gh::net::ConnectionSlot slot) -> gh::net::awaitable<void> {
    if (spec->kind != "admin")
      return proxy_handler(w, std::move(s), peer, std::move(spec), std::move(slot));
    proxy.worker_metrics(w.index).connections[2].add();   // (kListenerNames: "admin")
    gh::admin::ServeOptions opt;
    opt.stop = &w.draining;
    if (w.draining.load()) {
      // Accepted while draining (the admin listener stays open for it): one
      // answer, so health checks see the 503, then close.
      opt.stop = nullptr;
      opt.max_requests = 1;
    }
    gh::net::Stream st(std::move(s));
    st.nodelay_from_second_write();
    return gh::admin::serve_admin(
        std::move(st),
        gh::admin::health_follows_drain(
            gh::admin::require_token(gh::admin::make_admin_handler(status_json, purge, metrics_text),
                                     admin_token),
            [&server] { return server.draining(); }),
        opt);
  }, [&] {
    // Serving: systemd first (a new process names itself the main one),
    // then the old process of an upgrade, which drains once told.
    gh::core::systemd_notify("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1\nSTATUS=serving");
    gh::net::report_ready(inherited.ready_fd);
  });
  checker.stop();
  acme.stop();
  // Jobs on the blocking pool post back to the workers: finish them while
  // the workers' contexts still exist.
  gh::policy::blocking_pool().stop();
  gh::policy::blocking_pool().join();
  gh::policy::JwksSource::stop_all(std::chrono::milliseconds(2000));
  shared.access_log.stop();
  GH_INFO("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = "run";
  std::string file = "gatehouse.yaml";
  int i = 1;
  if (i < argc && argv[i][0] != '-') cmd = argv[i++];
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) file = argv[++i];
    else if (a.rfind("--config=", 0) == 0) file = a.substr(9);
    else if (a == "-h" || a == "--help") return usage(), 0;
    else return usage();
  }
  if (cmd == "version" || cmd == "--version") return cmd_version();
  if (cmd == "check") return cmd_check(file);
  if (cmd == "run") return cmd_run(file, std::vector<std::string>(argv, argv + argc));
  return usage();
}
