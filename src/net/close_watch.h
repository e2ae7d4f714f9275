// Watches a connection nobody reads for its peer's close, without reading it.
//
// The watch is an operation queued on the socket's read side the way Asio
// queues its own reads, so it costs no epoll_ctl (Asio's async_wait re-arms
// the descriptor with one every time) and nothing while the socket stays
// quiet. It peeks at one byte when started, unless the reactor knows the
// socket drained since epoll last reported it (after a read that returned
// bytes Asio always assumes more may wait), and again each time epoll
// reports the socket: nothing before the FIN, or an error (a reset), is the
// peer's close; a byte is the peer's next data (an HTTP/1.1 pipelined
// request), left unread, and ends the watch quietly. A close behind unread
// bytes is not seen (nginx's check is the same).
#pragma once

#include "net/asio.h"

namespace gh::net {

class CloseWatch {
 public:
  using OnClose = void (*)(void* ctx);
  CloseWatch() = default;
  ~CloseWatch() { stop(); }
  CloseWatch(const CloseWatch&) = delete;
  CloseWatch& operator=(const CloseWatch&) = delete;

  // Starts watching `s` (open, plain TCP or the TCP under TLS, with no read
  // of its own pending): `on_close(ctx)` runs from the socket's io_context
  // (never inside start()) when the peer closes or resets the connection,
  // at most once. Costs at most one recv(MSG_PEEK). Does nothing when a
  // watch is running. `s` must stay in place (not moved) until stop().
  void start(Socket& s, OnClose on_close, void* ctx);
  // Ends the watch; on_close will not run. No syscall. Safe when none runs
  // and after the socket was closed.
  void stop();
  bool running() const { return op_ != nullptr; }

 private:
  struct Op;
  Op* op_ = nullptr;
  Socket* sock_ = nullptr;
  void* reactor_ = nullptr;        // the reactor of `ctx_of_` (a service lookup takes a mutex)
  const void* ctx_of_ = nullptr;
  OnClose on_close_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace gh::net
