#include "net/inherit.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

extern char** environ;

namespace gh::net {

std::string format_inherited(const std::vector<InheritedSocket>& sockets) {
  std::string out;
  for (const auto& s : sockets) {
    if (!out.empty()) out += ';';
    out += s.kind + "," + s.host + "," + std::to_string(s.port) + "," + std::to_string(s.fd);
  }
  return out;
}

static bool parse_int(std::string_view v, long lo, long hi, long& out) {
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size() && out >= lo && out <= hi;
}

bool parse_inherited(std::string_view text, std::vector<InheritedSocket>& out, std::string& err) {
  out.clear();
  while (!text.empty()) {
    size_t semi = text.find(';');
    std::string_view entry = text.substr(0, semi);
    const std::string_view whole = entry;
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    std::string_view f[4];
    size_t n = 0;
    while (n < 4) {
      size_t comma = entry.find(',');
      f[n++] = entry.substr(0, comma);
      if (comma == std::string_view::npos) {
        entry = {};
        break;
      }
      entry = entry.substr(comma + 1);
    }
    long port = 0, fd = 0;
    if (n != 4 || !entry.empty() || f[0].empty() || f[1].empty() ||
        !parse_int(f[2], 1, 65535, port) || !parse_int(f[3], 3, INT_MAX, fd)) {
      err = std::string(kInheritedFdsEnv) + ": bad entry '" + std::string(whole) + "'";
      out.clear();
      return false;
    }
    out.push_back({std::string(f[0]), std::string(f[1]), static_cast<uint16_t>(port), static_cast<int>(fd)});
  }
  return true;
}

Inheritance take_inheritance(std::string& err) {
  Inheritance in;
  if (const char* v = ::getenv(kInheritedFdsEnv)) {
    if (!parse_inherited(v, in.sockets, err)) in.sockets.clear();
    ::unsetenv(kInheritedFdsEnv);
  }
  if (const char* v = ::getenv(kUpgradeReadyFdEnv)) {
    long fd = -1;
    if (parse_int(v, 3, INT_MAX, fd) && ::fcntl(static_cast<int>(fd), F_GETFD) >= 0) {
      in.ready_fd = static_cast<int>(fd);
      ::fcntl(in.ready_fd, F_SETFD, FD_CLOEXEC);
    }
    ::unsetenv(kUpgradeReadyFdEnv);
  }
  return in;
}

void report_ready(int& ready_fd) {
  if (ready_fd < 0) return;
  char c = 'R';
  while (::write(ready_fd, &c, 1) < 0 && errno == EINTR) {
  }
  ::close(ready_fd);
  ready_fd = -1;
}

std::string own_binary_path() {
  char buf[PATH_MAX];
  if (!::realpath("/proc/self/exe", buf)) return {};
  return buf;
}

bool Upgrade::start(const std::string& exe, const std::vector<std::string>& argv,
                    const std::vector<InheritedSocket>& sockets, std::string& err) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    err = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (the parent has other threads).
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with(std::string(kInheritedFdsEnv) + "=") ||
        v.starts_with(std::string(kUpgradeReadyFdEnv) + "="))
      continue;
    env.emplace_back(v);
  }
  env.push_back(std::string(kInheritedFdsEnv) + "=" + format_inherited(sockets));
  env.push_back(std::string(kUpgradeReadyFdEnv) + "=" + std::to_string(p[1]));
  std::vector<char*> envp, args;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argcopy = argv;
  for (auto& a : argcopy) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<int> keep;
  for (const auto& s : sockets) keep.push_back(s.fd);
  keep.push_back(p[1]);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const int max_fd = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : static_cast<int>(rl.rlim_cur);

  pid_t pid = ::fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    ::close(p[0]);
    ::close(p[1]);
    return false;
  }
  if (pid == 0) {
    // Child. Upstream sockets, epoll and event descriptors must not leak
    // into the new process (they would hold connections open): everything
    // above stderr is closed on exec, then the inherited ones are kept.
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0)
#endif
      for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    for (int fd : keep) ::fcntl(fd, F_SETFD, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(exe.c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  ::close(p[1]);
  pid_ = pid;
  ready_read_ = p[0];
  return true;
}

static std::string reap(pid_t pid) {
  int status = 0;
  pid_t w;
  do {
    w = ::waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return "ended";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

Upgrade::Outcome Upgrade::wait(std::chrono::milliseconds timeout, std::string& detail) {
  if (pid_ < 0) return Outcome::exited;
  pollfd pfd{ready_read_, POLLIN, 0};
  int r;
  do {
    r = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  if (r == 0) return Outcome::pending;
  char c = 0;
  ssize_t n;
  do {
    n = ::read(ready_read_, &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) return Outcome::ready;
  // End of file: the new process is gone (or closed the pipe, which only
  // an exit does).
  detail = reap(pid_);
  pid_ = -1;
  return Outcome::exited;
}

void Upgrade::terminate(std::string& detail) {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  detail = reap(pid_);
  pid_ = -1;
}

Upgrade::~Upgrade() {
  if (ready_read_ >= 0) ::close(ready_read_);
}

}  // namespace gh::net
