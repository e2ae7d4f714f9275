// Handing Asio a socket it did not open itself, without the two syscalls
// Asio would otherwise spend on it.
#pragma once

#include "net/asio.h"

namespace gh::net {

// Makes `s` own `fd`, a TCP socket (connected, or one we are about to
// connect) that is already O_NONBLOCK (accept4 or socket(2) with
// SOCK_NONBLOCK, or one Asio had made non-blocking before) and that no
// other descriptor refers to. Asio's assign() assumes neither:
// it would set O_NONBLOCK again with an ioctl on the first operation, and
// remove the socket from epoll with an epoll_ctl before closing it, in case
// a dup keeps it open. Refuses (returns false, fd left open) only when
// Asio cannot register the descriptor.
bool adopt_nonblocking(Socket& s, int fd, bool v6, error_code& ec);

// For a socket just accepted: its first read waits for epoll to report it
// readable instead of trying recv at once. A client's request usually
// arrives after accept returns (we accept as the handshake completes), so
// the speculative recv Asio would try first mostly fails with EAGAIN: one
// syscall per connection for nothing. Bytes already queued are not missed:
// epoll reports a socket that is readable when it is added (net/adopt.cc).
// Only the next read is affected; Asio goes back to reading speculatively
// once epoll has reported the socket readable.
void read_after_readiness(Socket& s);

}  // namespace gh::net
