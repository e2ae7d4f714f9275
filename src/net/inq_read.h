// Reads on a plain TCP socket that know whether they drained it, so that the
// read after a short one waits for epoll instead of trying a recv that finds
// nothing.
//
// Asio tries every read at once unless the socket's last read hit EOF, so a
// relay that reads, writes and reads again pays one recv returning EAGAIN
// per message. nginx knows a short read drained the socket and learns of a
// FIN that came with the last bytes from EPOLLRDHUP. Asio shows neither, but
// the kernel tells it itself: with TCP_INQ (Linux 4.18) every recvmsg comes
// with the count of bytes still queued, nonzero also when a FIN waits
// behind them (tcp_inq_hint). A read that leaves nothing is reported to the
// reactor as exhausted — as Asio reports EOF — so the next read is queued
// without a syscall and runs when epoll reports the socket again; a read
// that leaves bytes or a FIN is not, so the next one takes them at once.
// (Only a short read can be exhausted: a full buffer always reports the rest.)
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>

#include "net/reactor_access.h"

namespace gh::net {

// Asks the kernel for the queued-byte count on every read of `s` (one
// setsockopt). False: not available (an old kernel, not TCP); read with
// async_read_some then.
bool enable_read_inq(Socket& s);

namespace inq_detail {

namespace ad = boost::asio::detail;

// One recvmsg into `b`: done (bytes, or an error in `ec`), done_and_exhausted
// (the socket is drained: bytes and nothing behind them, or EOF), or
// not_done (nothing yet).
ad::reactor_op::status recv_inq(int fd, asio::mutable_buffer b, error_code& ec, size_t& n);

template <class Handler, class IoExecutor>
class InqRecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(InqRecvOp);

  InqRecvOp(int fd, asio::mutable_buffer b, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(error_code(), &InqRecvOp::do_perform, &InqRecvOp::do_complete),
        fd_(fd),
        buf_(b),
        handler_(static_cast<Handler&&>(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<InqRecvOp*>(base);
    return recv_inq(o->fd_, o->buf_, o->ec_, o->bytes_transferred_);
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    // As reactive_socket_recv_op::do_complete.
    auto* o = static_cast<InqRecvOp*>(base);
    ptr p = {ad::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(
        static_cast<ad::handler_work<Handler, IoExecutor>&&>(o->work_));
    ad::binder2<Handler, error_code, std::size_t> handler(o->handler_, o->ec_,
                                                          o->bytes_transferred_);
    p.h = ad::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  asio::mutable_buffer buf_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

struct InitiateInqRecv {
  Socket* sock;
  asio::mutable_buffer buf;

  template <class Handler>
  void operator()(Handler&& handler) const {
    using H = std::decay_t<Handler>;
    using Op = InqRecvOp<H, Executor>;
    namespace ra = reactor_access;
    H h(static_cast<Handler&&>(handler));
    auto slot = asio::get_associated_cancellation_slot(h);
    auto& impl = ra::impl_of(*sock);
    auto& reactor = ra::reactor_of(*sock);
    typename Op::ptr p = {ad::addressof(h), Op::ptr::allocate(h), 0};
    p.p = new (p.v) Op(impl.socket_, buf, h, sock->get_executor());
    if (slot.is_connected())
      p.p->cancellation_key_ = &slot.template emplace<ra::OpCancel>(
          &reactor, &impl.reactor_data_, impl.socket_, ad::reactor::read_op);
    if (!ra::make_non_blocking(*sock, p.p->ec_)) {
      reactor.post_immediate_completion(p.p, false);
    } else {
      // Speculative, as Asio's own reads: tried now unless the reactor knows
      // the socket drained since epoll last reported it.
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, false, true);
    }
    p.v = p.p = 0;
  }
};

}  // namespace inq_detail

// Reads some bytes into `b` (not empty) from `s`, a socket enable_read_inq()
// succeeded for: completes like s.async_read_some(b, nothrow) — (error_code,
// bytes), asio::error::eof at the peer's FIN, operation_aborted when the
// socket's operations are cancelled.
inline auto async_read_some_inq(Socket& s, asio::mutable_buffer b) {
  return asio::async_initiate<const std::decay_t<decltype(nothrow)>,
                              void(error_code, std::size_t)>(inq_detail::InitiateInqRecv{&s, b},
                                                             nothrow);
}

}  // namespace gh::net
