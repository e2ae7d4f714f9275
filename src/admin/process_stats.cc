#include "admin/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace gh::admin {

// Seconds since the epoch at boot ("btime" in /proc/stat); 0 when unknown.
static uint64_t boot_time() {
  std::ifstream f("/proc/stat");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("btime ", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

bool read_process_stats(ProcessStats& out) {
  std::ifstream f("/proc/self/stat");
  std::string all;
  if (!std::getline(f, all)) return false;
  // The command name is in parentheses and may hold spaces: fields are
  // counted from the last ')'. After it: field 3 (state) onwards.
  size_t close = all.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(all.substr(close + 2));
  std::string field[23];
  for (int i = 0; i < 23 && in >> field[i]; ++i) {
  }
  // Indexes: field 3 is [0], so utime (14) is [11], stime [12],
  // starttime (22) [19], vsize (23) [20], rss (24) [21].
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  try {
    out.cpu_seconds = (std::stod(field[11]) + std::stod(field[12])) / ticks;
    out.start_time_seconds = static_cast<double>(boot_time()) + std::stod(field[19]) / ticks;
    out.virtual_bytes = std::stoull(field[20]);
    out.resident_bytes = std::stoull(field[21]) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  } catch (...) {
    return false;
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    out.open_fds = n > 0 ? n - 1 : 0;   // (not counting the directory's own descriptor)
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) out.max_fds = rl.rlim_cur;
  return true;
}

}  // namespace gh::admin
