#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace gh::core {

static std::atomic<Level> g_level{Level::info};

void set_log_level(Level lvl) { g_level.store(lvl); }

void logf(Level lvl, const char* fmt, ...) {
  if (lvl < g_level.load(std::memory_order_relaxed)) return;
  static const char* names[] = {"debug", "info", "warn", "error"};
  char line[2048];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                        t.tm_sec, ts.tv_nsec / 1000000, names[static_cast<int>(lvl)]);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : std::min<size_t>(m, sizeof line - n - 2));
  line[len++] = '\n';
  // One write per line keeps lines whole when several threads log at once.
  ssize_t r = ::write(2, line, len);
  (void)r;
}

}  // namespace gh::core
