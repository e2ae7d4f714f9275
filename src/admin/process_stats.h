// The process's own resource use, from /proc/self (Linux), for the
// standard process_* metrics.
#pragma once

#include <cstdint>

namespace gh::admin {

struct ProcessStats {
  double start_time_seconds = 0;   // unix time the process started
  double cpu_seconds = 0;          // user + system CPU time
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;            // RLIMIT_NOFILE soft limit
};

// Reads /proc/self/stat, /proc/stat (boot time) and /proc/self/fd. Returns
// false (fields left 0) when /proc cannot be read.
bool read_process_stats(ProcessStats& out);

}  // namespace gh::admin
