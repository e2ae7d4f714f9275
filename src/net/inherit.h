// Binary upgrade (SIGUSR2): the running process starts its binary again
// with its listening sockets inherited, and the new process tells it when
// it serves. Both halves are here; docs/operations.md describes the handover.
//
// The environment of the new process carries:
//   GATEHOUSE_INHERITED_FDS="kind,host,port,fd;kind,host,port,fd;..."
//     every listening socket (one per worker and listener), its descriptor
//     number in the new process and the listener it served;
//   GATEHOUSE_UPGRADE_READY_FD="fd"
//     the write end of a pipe: the new process writes one byte to it once its
//     workers accept, and the old process then drains and exits. The old one
//     sees an end of file instead when the new one exits (a bad config, say).
// Both are removed from the environment when read, so a later upgrade of
// the new process does not see them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "net/server.h"

namespace gh::net {

inline constexpr const char* kInheritedFdsEnv = "GATEHOUSE_INHERITED_FDS";
inline constexpr const char* kUpgradeReadyFdEnv = "GATEHOUSE_UPGRADE_READY_FD";

// "kind,host,port,fd;..." (no trailing ';'). Hosts are IP literals or
// "localhost", which hold no ',' or ';'.
std::string format_inherited(const std::vector<InheritedSocket>& sockets);

// Parses format_inherited()'s text. Refuses (false, `err` set) a malformed
// entry: four fields, a port 1..65535 and a descriptor >= 3.
bool parse_inherited(std::string_view text, std::vector<InheritedSocket>& out, std::string& err);

// What the process that started this one handed over: the sockets (empty
// when not started by an upgrade) and the ready pipe (-1 when none). Reads
// and removes both variables; call once, at start, before other threads.
struct Inheritance {
  std::vector<InheritedSocket> sockets;
  int ready_fd = -1;
};
Inheritance take_inheritance(std::string& err);

// The new process: tell the old one it serves (writes the byte, closes the
// pipe). No-op for ready_fd -1.
void report_ready(int& ready_fd);

// The path of the running binary, resolved at start (a file replaced on disk
// later is what an upgrade runs). Empty when /proc/self/exe cannot be read.
std::string own_binary_path();

// One upgrade in flight, from the old process's side.
class Upgrade {
 public:
  // Forks and execs `exe` with `argv` (argv[0] included) and the current
  // environment plus the two variables above; `sockets` are inherited
  // (their close-on-exec flag is cleared in the child only), every other
  // descriptor but 0-2 is closed on exec. False with `err` when the pipe
  // or the fork fails (exec failing shows as an exit status 127).
  bool start(const std::string& exe, const std::vector<std::string>& argv,
             const std::vector<InheritedSocket>& sockets, std::string& err);

  enum class Outcome { ready, exited, pending };
  // Blocks until the new process reports ready, exits (reaped; `detail`
  // says how), or `timeout` passes (pending: call again or terminate()).
  Outcome wait(std::chrono::milliseconds timeout, std::string& detail);
  // Gives up on it: SIGTERM, then reaps it. `detail` says how it ended.
  void terminate(std::string& detail);

  pid_t pid() const { return pid_; }
  ~Upgrade();

 private:
  pid_t pid_ = -1;
  int ready_read_ = -1;
};

}  // namespace gh::net
