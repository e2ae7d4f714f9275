// Handing Asio a socket it did not open itself, without the two syscalls
// Asio would otherwise spend on it.
#pragma once

#include "net/asio.h"

namespace gh::net {

// Makes `s` own `fd`, a connected TCP socket that is already O_NONBLOCK
// (accept4 with SOCK_NONBLOCK, or one Asio had made non-blocking before)
// and that no other descriptor refers to. Asio's assign() assumes neither:
// it would set O_NONBLOCK again with an ioctl on the first operation, and
// remove the socket from epoll with an epoll_ctl before closing it, in case
// a dup keeps it open. Refuses (returns false, fd left open) only when
// Asio cannot register the descriptor.
bool adopt_nonblocking(Socket& s, int fd, bool v6, error_code& ec);

}  // namespace gh::net
