#include "core/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>

namespace gh::core {

bool systemd_notify_enabled() {
  const char* s = std::getenv("NOTIFY_SOCKET");
  return s && *s;
}

bool systemd_notify(const std::string& state) {
  if (!systemd_notify_enabled()) return false;
  // unset_environment 0: a binary upgrade's new process reports through
  // the same socket.
  return sd_notify(0, state.c_str()) > 0;
}

std::string systemd_reloading_state() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                            static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace gh::core
