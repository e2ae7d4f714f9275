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

}  // namespace gh::net
