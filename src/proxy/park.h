// Parked connections: a keep-alive client that has been idle for a while
// holds no coroutine, no buffers and no parser state — only its socket, its
// address and a deadline — until it sends its next byte. Then a fresh
// session starts on it. This is what keeps 10,000 idle clients cheap.
//
// Two stages: a connection first waits parked inside Asio (a readiness
// wait: free to enter and leave, so busy clients between requests land
// here), and once it has stayed quiet for kIdleSetAfterMs the worker's tick
// moves it into the worker's IdleSet (net/idle_set.h: ~80 bytes instead of
// several hundred, for a few epoll_ctl calls).
//
// TLS connections park too, with their SSL object (about 15 KiB, OpenSSL's
// record buffers released), but only when OpenSSL holds none of the
// client's bytes (net::Stream::quiet()): then the socket's readiness says
// all there is to know, as for plain TCP. The session checks this before
// it parks (proxy/session.cc).
#pragma once

#include <memory>

#include "net/deadlines.h"
#include "net/idle_set.h"
#include "net/server.h"
#include "net/stream.h"
#include "proxy/session.h"

namespace gh::proxy {

struct Parked {
  Parked(WorkerState& ws, net::Stream s, ClientInfo ci, net::ConnectionSlot slot, int64_t idle_until);
  ~Parked();
  WorkerState& ws;
  net::Stream stream;
  ClientInfo client;
  net::ConnectionSlot slot;
  net::Deadline deadline;     // the keep-alive timeout, still counting
  int64_t since_ms;           // when it was parked
  bool to_idle_set = false;   // its wait was cancelled to move it to ws.idle
  Parked* prev = nullptr;     // in ws.parked, so draining can close it
  Parked* next = nullptr;
};

// Serves a connection: sessions one after another, parked in between.
net::awaitable<void> serve_connection(WorkerState& ws, net::Stream s, ClientInfo ci,
                                      net::ConnectionSlot slot);

// A new connection with no bytes yet waits parked for its first request
// (or, for TLS, its ClientHello), so a burst of idle connects allocates no
// session state.
void serve_new_connection(WorkerState& ws, net::Stream s, ClientInfo ci, net::ConnectionSlot slot,
                          int64_t first_byte_deadline_ms);

// Parked this long, a connection moves to the worker's IdleSet.
inline constexpr int64_t kIdleSetAfterMs = 100;
// With this many parked in Asio already, a connection goes to the IdleSet
// at once, unless it is a busy one: its last park ended within
// kBusyWakeMs. Busy connections stay in Asio because a trip through the
// IdleSet costs ~8 us in syscalls (measured: 1,000 keep-alive clients, 24
// vs 16 us per request); idle floods go to the IdleSet because Asio keeps
// the per-descriptor state of every socket it watched at once, and those
// states, scattered through the heap, pin the pages a burst freed.
inline constexpr size_t kMaxParkedInAsio = 256;
inline constexpr int64_t kBusyWakeMs = 100;

// Called by the worker's tick: moves long-parked connections to the
// IdleSet and closes the ones there whose keep-alive time is up.
void park_tick(WorkerState& ws);

// Resumes a connection the IdleSet saw become readable.
void resume_idle(WorkerState& ws, net::Socket s, net::IdleConn c);

// Closes every parked connection of the worker (draining).
void close_parked(WorkerState& ws);

}  // namespace gh::proxy
