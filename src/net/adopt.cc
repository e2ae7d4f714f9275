#include "net/adopt.h"

namespace gh::net {

namespace {
// The socket's implementation (state flags) is a protected member of
// basic_socket; a pointer to it formed through a derived class is the
// standard way to reach it. If Asio's internals change, this stops
// compiling rather than misbehaving.
struct ImplAccess : Socket {
  static constexpr auto member = &ImplAccess::impl_;
};

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
// The reactor's per-descriptor "try the operation before waiting" flags are
// private to Asio's epoll_reactor; an explicit instantiation may name a
// private member, and the friend function hands the pointer out. As above:
// if Asio renames or retypes the member, this stops compiling.
using DescriptorState = asio::detail::epoll_reactor::descriptor_state;
using TrySpeculative = bool (DescriptorState::*)[asio::detail::epoll_reactor::max_ops];
struct TrySpeculativeTag {
  friend TrySpeculative member(TrySpeculativeTag);
};
template <TrySpeculative M>
struct TrySpeculativeAccess {
  friend TrySpeculative member(TrySpeculativeTag) { return M; }
};
template struct TrySpeculativeAccess<&DescriptorState::try_speculative_>;
#endif
}  // namespace

bool adopt_nonblocking(Socket& s, int fd, bool v6, error_code& ec) {
  s.assign(v6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) return false;
  namespace ops = asio::detail::socket_ops;
  auto& impl = (s.*ImplAccess::member).get_implementation();
  impl.state_ |= ops::internal_non_blocking;
  impl.state_ &= ~ops::possible_dup;
  return true;
}

void read_after_readiness(Socket& s) {
#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  // The descriptor was registered with EPOLLET when Asio took it. epoll_ctl
  // ADD queues an event if the socket is readable at that moment, and
  // Asio's reactor sets the flag back whenever epoll reports the socket
  // readable (descriptor_state::perform_io), whether or not a read waits
  // then, so clearing it cannot lose a wake-up.
  auto& impl = (s.*ImplAccess::member).get_implementation();
  if (impl.reactor_data_) (impl.reactor_data_->*member(TrySpeculativeTag{}))[asio::detail::epoll_reactor::read_op] = false;
#else
  (void)s;
#endif
}

}  // namespace gh::net
