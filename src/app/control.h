// The running process's control: the signals it acts on, taken
// synchronously by one thread (sigwait), and what each one does.
//   SIGHUP   reload: new config, listeners, certificates, routes, backends
//   SIGUSR1  reopen the access-log file (logrotate)
//   SIGUSR2  binary upgrade: start the binary again with the listening
//            sockets (net/inherit.h); once it serves, drain and exit
//   SIGTERM, SIGINT  drain (timeouts.shutdown_drain), then exit
// Reported to systemd when NOTIFY_SOCKET is set (core/systemd_notify.h).
#pragma once

#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "acme/manager.h"
#include "net/inherit.h"
#include "net/server.h"
#include "proxy/worker_state.h"
#include "upstream/health_checker.h"

namespace gh::app {

// The signals above, blocked in the calling thread (call before any other
// thread starts, so every thread inherits the mask).
sigset_t block_control_signals();

// Hands `cfg`'s ssl section to the ACME manager (acme/manager.h): http-01
// is answerable when the TLS listener has its own port (server.port then
// serves plain HTTP).
void apply_acme(acme::Manager& acme, const config::Config& cfg);

class Control {
 public:
  // `exe` is the binary an upgrade runs (own_binary_path() at start), `argv`
  // its arguments (argv[0] included). All references must outlive the
  // Control.
  Control(std::string config_file, std::string exe, std::vector<std::string> argv,
          net::Server& server, proxy::Shared& shared, upstream::HealthChecker& checker);
  // Waits for an upgrade still starting (it is then stopped).
  ~Control();

  // Starts the signal thread (detached: it may sit in sigwait at exit).
  void start(const sigset_t& sigs);

  // A reload hands its config to `acme` (which must outlive the Control).
  // Call before start().
  void set_acme(acme::Manager* acme) { acme_ = acme; }

 private:
  void reload();
  void reopen_log();
  void upgrade();
  void watch_upgrade(std::unique_ptr<net::Upgrade> up);
  std::chrono::milliseconds drain_time() const;

  std::string file_;
  std::string exe_;
  std::vector<std::string> argv_;
  net::Server& server_;
  proxy::Shared& shared_;
  upstream::HealthChecker& checker_;
  acme::Manager* acme_ = nullptr;
  // The server settings the process started with (workers, limits, access
  // log): a reload cannot change them and warns when the file does.
  const config::Server started_;
  std::atomic<bool> upgrading_{false};
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::thread upgrade_thread_;
};

}  // namespace gh::app
