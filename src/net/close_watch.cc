#include "net/close_watch.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/recycling_allocator.hpp>

#include "net/reactor_access.h"

namespace gh::net {

namespace ad = boost::asio::detail;

struct CloseWatch::Op : ad::reactor_op {
  Op(int f, CloseWatch* w)
      : reactor_op(error_code(), &Op::do_perform, &Op::do_complete), fd(f), watch(w) {}

  int fd;
  CloseWatch* watch;       // null once the watch stopped (the op only frees itself then)
  bool closed = false;

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<Op*>(base);
    char c;
    for (;;) {
      ssize_t r = ::recv(o->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0) {
        o->closed = true;   // FIN with nothing before it
        return done;
      }
      if (r > 0) return done;   // the peer's next bytes: not ours to judge
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->closed = true;   // reset, or another error that ends the connection
      return done;
    }
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    auto* o = static_cast<Op*>(base);
    CloseWatch* w = o->watch;
    const bool closed = owner && o->closed && o->ec_ != asio::error::operation_aborted;
    o->~Op();
    asio::recycling_allocator<Op>().deallocate(o, 1);
    if (!w) return;
    w->op_ = nullptr;
    w->sock_ = nullptr;
    if (closed) w->on_close_(w->ctx_);
  }
};

void CloseWatch::start(Socket& s, OnClose on_close, void* ctx) {
  namespace ra = reactor_access;
  if (op_ || !s.is_open()) return;
  auto& impl = ra::impl_of(s);
  error_code ec;
  if (!ra::make_non_blocking(s, ec)) return;
  Op* op = new (asio::recycling_allocator<Op>().allocate(1)) Op(impl.socket_, this);
  op->cancellation_key_ = op;
  op_ = op;
  sock_ = &s;
  on_close_ = on_close;
  ctx_ = ctx;
  // Queued as a speculative read: the reactor adds no epoll_ctl, and peeks
  // now unless it knows the socket drained since epoll last reported it
  // (so a close epoll reported before the watch began is seen too).
  const void* context = &s.get_executor().context();
  if (context != ctx_of_) {
    reactor_ = &ra::reactor_of(s);
    ctx_of_ = context;
  }
  static_cast<ad::reactor*>(reactor_)->start_op(ad::reactor::read_op, impl.socket_,
                                                impl.reactor_data_, op, false, true);
}

void CloseWatch::stop() {
  if (!op_) return;
  auto& impl = reactor_access::impl_of(*sock_);
  // Still queued: taken out and completed as aborted (it frees itself). Done
  // already but not yet completed: it finds no watch and only frees itself.
  if (impl.reactor_data_)
    static_cast<ad::reactor*>(reactor_)->cancel_ops_by_key(impl.socket_, impl.reactor_data_,
                                                           ad::reactor::read_op, op_);
  op_->watch = nullptr;
  op_ = nullptr;
  sock_ = nullptr;
}

}  // namespace gh::net
