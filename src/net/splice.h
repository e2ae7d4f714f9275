// splice(2) steps for moving bytes socket -> pipe -> socket without copying
// them through user space (pipes: net/pipe_pair.h), and the switch that
// turns splicing off for tests. Used by HTTP/1 bodies of known length
// between plain sockets (proxy/body_http1.cc); the stream relay
// (stream/relay.cc) honours the switch. Knows nothing of what the bytes are.
//
// splice(2) into a reset socket raises SIGPIPE (it has no MSG_NOSIGNAL): the
// process ignores SIGPIPE (app/control.cc), so it comes back as EPIPE.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace gh::net {

// False when the environment had GATEHOUSE_NO_SPLICE=1 at the first call
// (read once): splice users copy through user space instead, as they do
// where the kernel refuses splice. For tests of that path.
bool splice_allowed();

// One splice(2) call, non-blocking (SPLICE_F_NONBLOCK | SPLICE_F_MOVE),
// retried on EINTR: > 0 bytes moved; 0 end of input (a socket's FIN);
// < 0 -errno: -EAGAIN (wait for readiness), -EINVAL / -ENOSYS (this pair
// of descriptors cannot be spliced: copy instead), others fatal (-EPIPE,
// -ECONNRESET, ...).
ssize_t splice_some(int from, int to, size_t max);

}  // namespace gh::net
