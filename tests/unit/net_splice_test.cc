#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "net/pipe_pair.h"
#include "net/splice.h"

namespace gh::net {
namespace {

// A connected pair of non-blocking stream sockets (AF_UNIX splices like TCP).
struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd), 0); }
  ~SocketPair() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  int fd[2];
};

TEST(SpliceSome, MovesBytesSocketPipeSocketAndTellsEndAndWouldBlock) {
  SocketPair a, b;
  PipeCache c;
  PipePair p = c.take();
  ASSERT_GE(p.r, 0);
  const std::string msg(100000, 'x');
  size_t sent = 0;
  while (sent < msg.size()) {
    ssize_t n = ::send(a.fd[0], msg.data() + sent, msg.size() - sent, 0);
    if (n <= 0) break;
    sent += size_t(n);
  }
  ASSERT_GT(sent, 0u);
  std::string got;
  while (got.size() < sent) {
    ssize_t n = splice_some(a.fd[1], p.w, sent - got.size());
    ASSERT_GT(n, 0);
    size_t left = size_t(n);
    while (left) {
      ssize_t m = splice_some(p.r, b.fd[0], left);
      ASSERT_GT(m, 0);
      left -= size_t(m);
      char buf[65536];
      ssize_t r;
      while ((r = ::recv(b.fd[1], buf, sizeof buf, 0)) > 0) got.append(buf, size_t(r));
    }
  }
  EXPECT_EQ(got, msg.substr(0, sent));
  EXPECT_EQ(splice_some(a.fd[1], p.w, 4096), -EAGAIN);
  ::shutdown(a.fd[0], SHUT_WR);
  EXPECT_EQ(splice_some(a.fd[1], p.w, 4096), 0);
  c.give(p, true);
}

TEST(SpliceSome, RefusedWithoutAPipeSide) {
  SocketPair a, b;
  ASSERT_EQ(::send(a.fd[0], "abc", 3, 0), 3);
  EXPECT_EQ(splice_some(a.fd[1], b.fd[0], 3), -EINVAL);
}

}  // namespace
}  // namespace gh::net
