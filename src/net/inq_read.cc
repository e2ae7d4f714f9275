#include "net/inq_read.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace gh::net {

bool enable_read_inq(Socket& s) {
  int on = 1;
  return ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

namespace inq_detail {

ad::reactor_op::status recv_inq(int fd, asio::mutable_buffer b, error_code& ec, size_t& n) {
  n = 0;
  if (b.size() == 0) {
    ec = error_code();
    return ad::reactor_op::done;
  }
  iovec iov{b.data(), b.size()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  for (;;) {
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t r = ::recvmsg(fd, &m, MSG_DONTWAIT);
    if (r > 0) {
      ec = error_code();
      n = static_cast<size_t>(r);
      int inq = 1;   // no count (should not happen once enabled): assume more
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ)
          std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
      return inq == 0 ? ad::reactor_op::done_and_exhausted : ad::reactor_op::done;
    }
    if (r == 0) {
      ec = asio::error::eof;
      return ad::reactor_op::done_and_exhausted;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ad::reactor_op::not_done;
    ec = error_code(errno, asio::error::get_system_category());
    return ad::reactor_op::done;
  }
}

}  // namespace inq_detail
}  // namespace gh::net
