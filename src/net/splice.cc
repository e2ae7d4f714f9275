#include "net/splice.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace gh::net {

bool splice_allowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("GATEHOUSE_NO_SPLICE");
    return !(v && std::strcmp(v, "1") == 0);
  }();
  return allowed;
}

ssize_t splice_some(int from, int to, size_t max) {
  for (;;) {
    ssize_t n = ::splice(from, nullptr, to, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) return n;
    const int e = errno;
    if (e == EINTR) continue;
    if (e == EWOULDBLOCK) return -EAGAIN;
    return -e;
  }
}

}  // namespace gh::net
