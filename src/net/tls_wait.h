// Private to net/tls_io.cc: waiting for a socket's readiness on behalf of
// OpenSSL, with the step OpenSSL wanted run by the reactor itself.
//
// Asio's socket.async_wait() re-arms the descriptor with an epoll_ctl
// before every wait (it cannot know whether an edge was already consumed),
// and a read tried before waiting mostly finds nothing on a keep-alive
// connection. Here the step OpenSSL wants (SSL_read, SSL_do_handshake,
// SSL_write) is the reactor operation itself, queued the way Asio queues
// its own socket reads: tried at once only when the reactor has seen the
// socket become ready since its last read drained it, otherwise queued
// without a syscall and run when epoll reports the socket. A keep-alive
// TLS request thus costs one read and one write on the client socket (as
// with asio::ssl::stream), instead of an extra read that finds nothing
// plus an epoll_ctl.
//
// This reaches into Asio's detail namespace (reactor_op, handler_work, the
// socket's implementation) as Asio's own reactive_wait_op does; written
// against Boost 1.81 and checked at compile time where it can be.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include "core/buffer.h"
#include "net/asio.h"
#include "net/reactor_access.h"
#include "net/tls_io.h"

namespace gh::net::tls_io {

// One TLS operation in progress: what to do (kind, buffer), and its outcome.
struct Probe {
  enum class Kind : uint8_t { read, read_into, write, handshake };
  Probe(SSL* s, Kind k, char* buf = nullptr, size_t len = 0) : ssl(s), kind(k), p(buf), n(len) {}
  SSL* ssl;
  Kind kind;
  char* p;                     // read, write: the bytes
  size_t n;
  core::Buffer* into = nullptr;   // read_into: reads at its tail, made at least
  size_t min_room = 0;            // min_room long by reserving `reserve`
  size_t reserve = 0;
  size_t result = 0;           // bytes read or written; 1 for a finished handshake
  error_code ec;
  Want want = Want::nothing;   // what to wait for before the next step
  bool finished = false;
  bool starting = false;       // set while a wait is queued right after a step (see TlsReadyOp)
  uint32_t steps = 0;

  // One step. True when finished (result or ec); otherwise `want` is set.
  bool step() {
    ++steps;
    Want w = Want::nothing;
    error_code e;
    size_t r = 0;
    switch (kind) {
      case Kind::read: r = read_step(ssl, p, n, w, e); break;
      case Kind::read_into:
        if (into->tail_room() < min_room) into->reserve_tail(reserve);
        r = read_step(ssl, into->tail(), into->tail_room(), w, e);
        // While waiting, a few bytes of a slow peer do not pin a block.
        if (!r && !e) into->shrink_to_fit();
        break;
      case Kind::write: r = write_step(ssl, p, n, steps == 1, w, e); break;
      case Kind::handshake: r = handshake_step(ssl, w, e); break;
    }
    if (r || e) {
      result = r;
      ec = e;
      finished = true;
      return true;
    }
    want = w;
    return false;
  }
};

namespace ad = boost::asio::detail;

// Cancels a queued TlsReadyOp through a cancellation slot.
using ReadyCancel = reactor_access::OpCancel;

template <class Handler, class IoExecutor>
class TlsReadyOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(TlsReadyOp);

  TlsReadyOp(const error_code& success_ec, Probe* probe, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(success_ec, &TlsReadyOp::do_perform, &TlsReadyOp::do_complete),
        probe_(probe),
        handler_(static_cast<Handler&&>(handler)),
        work_(handler_, io_ex) {}

  // One step, when the reactor says the socket may be ready, or while
  // being queued when it thinks bytes may be waiting (as for its own
  // reads), unless the caller has just made that step. Done when finished
  // or when OpenSSL now wants the other direction (the caller waits again,
  // on the other queue). A read that drained the socket reports
  // done_and_exhausted, so the reactor does not try the next read before
  // epoll says there is something: that saves a read that would find
  // nothing, exactly as for Asio's own socket reads.
  static status do_perform(reactor_op* base) {
    Probe* pr = static_cast<TlsReadyOp*>(base)->probe_;
    if (pr->starting) return not_done;
    Want before = pr->want;
    if (pr->step())
      return pr->kind != Probe::Kind::write && read_drained(pr->ssl) ? done_and_exhausted : done;
    return pr->want != before ? done : not_done;
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    // As reactive_wait_op::do_complete.
    TlsReadyOp* o = static_cast<TlsReadyOp*>(base);
    ptr p = {ad::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(static_cast<ad::handler_work<Handler, IoExecutor>&&>(o->work_));
    ad::binder1<Handler, error_code> handler(o->handler_, o->ec_);
    p.h = ad::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  Probe* probe_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// The socket's implementation (descriptor, reactor data, state flags), a
// protected member of basic_socket, reached through a derived class as in
// net/adopt.cc.
struct SocketImplAccess : Socket {
  static constexpr auto member = &SocketImplAccess::impl_;
};

struct InitiateReady {
  Socket* sock;
  Probe* probe;
  bool speculate;   // false: the caller has just made the step

  template <class Handler>
  void operator()(Handler&& handler) const {
    using H = std::decay_t<Handler>;
    using Op = TlsReadyOp<H, Executor>;
    H h(static_cast<Handler&&>(handler));
    auto slot = asio::get_associated_cancellation_slot(h);
    auto& io = sock->*SocketImplAccess::member;
    auto& impl = io.get_implementation();
    auto& reactor = asio::use_service<ad::reactor>(sock->get_executor().context());
    const int op_type = probe->want == Want::write ? ad::reactor::write_op : ad::reactor::read_op;
    typename Op::ptr p = {ad::addressof(h), Op::ptr::allocate(h), 0};
    p.p = new (p.v) Op(error_code(), probe, h, sock->get_executor());
    if (slot.is_connected())
      p.p->cancellation_key_ =
          &slot.template emplace<ReadyCancel>(&reactor, &impl.reactor_data_, impl.socket_, op_type);
    if ((impl.state_ & ad::socket_ops::non_blocking) == 0 &&
        !ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor.post_immediate_completion(p.p, false);
      p.v = p.p = 0;
      return;
    }
    // Speculative: no epoll_ctl for a read (see the top of this file).
    probe->starting = !speculate;
    const uint32_t steps = probe->steps;
    reactor.start_op(op_type, impl.socket_, impl.reactor_data_, p.p, false, true);
    probe->starting = false;
    p.v = p.p = 0;
    // Queued without a step (the reactor knew the socket drained): a read
    // into a buffer waits with the buffer holding just its bytes.
    if (probe->steps == steps && probe->kind == Probe::Kind::read_into) probe->into->shrink_to_fit();
  }
};

// Waits until the reactor has run `probe`'s step to its end, or until
// OpenSSL wants the other direction; completes with operation_aborted when
// the socket's operations are cancelled.
inline auto async_ready(Socket& s, Probe& probe, bool speculate) {
  return asio::async_initiate<const std::decay_t<decltype(nothrow)>, void(error_code)>(
      InitiateReady{&s, &probe, speculate}, nothrow);
}

}  // namespace gh::net::tls_io
