// Parked connections: a keep-alive client that has been idle for a while
// holds no coroutine, no buffers and no parser state — only its socket, its
// address and a deadline — until it sends its next byte. Then a fresh
// session starts on it. This is what keeps 10,000 idle clients cheap.
#pragma once

#include <memory>

#include "net/deadlines.h"
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
  Parked* prev = nullptr;     // in ws.parked, so draining can close it
  Parked* next = nullptr;
};

// Serves a connection: sessions one after another, parked in between.
net::awaitable<void> serve_connection(WorkerState& ws, net::Stream s, ClientInfo ci,
                                      net::ConnectionSlot slot);

// A new plain connection with no bytes yet waits parked for its first
// request, so a burst of idle connects allocates no session state.
void serve_new_connection(WorkerState& ws, net::Stream s, ClientInfo ci, net::ConnectionSlot slot,
                          int64_t first_byte_deadline_ms);

// Closes every parked connection of the worker (draining).
void close_parked(WorkerState& ws);

}  // namespace gh::proxy
