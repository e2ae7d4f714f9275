// What net/inq_read.h, net/close_watch.h and net/tls_wait.h need of Asio's reactor to queue
// operations of their own on a socket, the way Asio queues its reads: the
// socket's implementation (descriptor, reactor data, state flags) and a
// cancellation handler for a queued operation. Like net/tls_wait.h this
// reaches into Asio's detail namespace; written against Boost 1.81, and it
// stops compiling rather than misbehaving if those internals change.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include "net/asio.h"

namespace gh::net::reactor_access {

namespace ad = boost::asio::detail;

// basic_socket's implementation is a protected member; a pointer to it
// formed through a derived class is the standard way to reach it.
struct SocketImpl : Socket {
  static constexpr auto member = &SocketImpl::impl_;
};

inline auto& impl_of(Socket& s) { return (s.*SocketImpl::member).get_implementation(); }
inline ad::reactor& reactor_of(Socket& s) {
  return asio::use_service<ad::reactor>(s.get_executor().context());
}

// The socket is in non-blocking mode for Asio's purposes (it always is for
// sockets that already did a read or write); false with `ec` when it cannot be.
inline bool make_non_blocking(Socket& s, error_code& ec) {
  auto& impl = impl_of(s);
  return (impl.state_ & ad::socket_ops::non_blocking) != 0 ||
         ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, ec);
}

// Cancels one queued operation through a cancellation slot (as Asio's own
// reactor_op_cancellation, which is not public).
class OpCancel {
 public:
  OpCancel(ad::reactor* r, ad::reactor::per_descriptor_data* d, int fd, int op_type)
      : reactor_(r), data_(d), fd_(fd), op_type_(op_type) {}
  void operator()(asio::cancellation_type_t type) {
    if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total)))
      reactor_->cancel_ops_by_key(fd_, *data_, op_type_, this);
  }

 private:
  ad::reactor* reactor_;
  ad::reactor::per_descriptor_data* data_;
  int fd_;
  int op_type_;
};

}  // namespace gh::net::reactor_access
