#include "proxy/park.h"

#include "proxy/h2_connection.h"
#include "proxy/sni_passthrough.h"

#include <sys/socket.h>

namespace gh::proxy {

using namespace gh::net;

Parked::Parked(WorkerState& w, Stream s, ClientInfo ci, ConnectionSlot sl, int64_t idle_until)
    : ws(w),
      stream(std::move(s)),
      client(std::move(ci)),
      slot(std::move(sl)),
      deadline(w.worker.deadlines, [](void* self) { static_cast<Parked*>(self)->stream.cancel(); },
               this),
      since_ms(now_ms()) {
  stream.release_buffers();   // TLS: OpenSSL's record buffers, if it still had them
  deadline.expire_at(idle_until);
  ++ws.parked_in_asio;
  ws.note_heavy();
  next = ws.parked;
  if (next) next->prev = this;
  ws.parked = this;
}

Parked::~Parked() {
  --ws.parked_in_asio;
  if (prev) prev->next = next;
  else ws.parked = next;
  if (next) next->prev = prev;
}

// Moves a connection into the worker's IdleSet; a TLS one takes its SSL
// along. On refusal (no set, OpenSSL still holds bytes, or the kernel said
// no) returns false with `slot` and the stream still owned here.
static bool try_hold(WorkerState& ws, Stream& s, const ClientInfo& ci, ConnectionSlot& slot,
                     int64_t expire_at_ms) {
  if (!ws.idle || !s.quiet()) return false;
  IdleConn c;
  c.ip = ci.ip;
  c.port = ci.port;
  c.local_port = ci.local_port;
  c.local_ip = ci.local_ip;
  c.local_from_header = ci.local_from_header;
  c.v6 = ci.v6;
  c.served = ci.served;
  c.nodelay_pending = s.nodelay_pending();
  c.expire_at_ms = expire_at_ms;
  c.slot = std::move(slot);
  c.ssl = s.take_ssl();
  if (ws.idle->hold(s.socket(), std::move(c))) return true;
  slot = std::move(c.slot);   // refused: hold() left `c` as it was
  s.restore_ssl(std::move(c.ssl));
  return false;
}

static bool move_to_idle_set(Parked& p) {
  return try_hold(p.ws, p.stream, p.client, p.slot, p.deadline.at_ms());
}

// Serves a parked connection whose bytes arrived.
static void wake(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot) {
  // Not yet handshaken: a new TLS connection (a handshake never parks).
  if (s.is_tls() && !s.handshake_done() && has_sni_streams(ws.runtime().get())) {
    asio::co_spawn(ws.worker.ctx, serve_parked_hello(ws, std::move(s), std::move(ci), std::move(slot)),
                   asio::detached);
    return;
  }
  asio::co_spawn(ws.worker.ctx, serve_connection(ws, std::move(s), std::move(ci), std::move(slot)),
                 asio::detached);
}

static void park(std::unique_ptr<Parked> p) {
  Parked* raw = p.get();
  raw->stream.socket().async_wait(
      Socket::wait_read, [p = std::move(p)](error_code ec) mutable {
        bool draining = p->ws.worker.draining.load(std::memory_order_relaxed);
        if (ec == asio::error::operation_aborted && p->to_idle_set && !p->deadline.fired() &&
            !draining) {
          if (move_to_idle_set(*p)) return;
          p->to_idle_set = false;
          park(std::move(p));   // stays parked in Asio; its deadline still runs
          return;
        }
        if (ec) {
          p->stream.close();
          return;   // timeout, drain or error: the slot is released with p
        }
        // A request arrived (even while draining: it is answered, with
        // Connection: close, rather than failed).
        WorkerState& ws = p->ws;
        p->client.wakes_quickly = p->client.served && now_ms() - p->since_ms < kBusyWakeMs;
        wake(ws, std::move(p->stream), std::move(p->client), std::move(p->slot));
      });
}

awaitable<void> serve_connection(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot) {
  std::unique_ptr<Parked> parked;
  std::unique_ptr<H2Connection> h2;
  std::string already;
  {
    Session session(ws, std::move(s), std::move(ci));
    Session::RunEnd end = co_await session.run();
    if (end == Session::RunEnd::closed) co_return;
    if (end == Session::RunEnd::http2) {
      already = session.take_input();
      h2 = std::make_unique<H2Connection>(ws, session.take_stream(), session.take_client(),
                                          std::move(slot));
    } else {
      Stream st = session.take_stream();
      ClientInfo client = session.take_client();
      client.served = client.served || session.served_any();
      // Past the cap, straight to the idle set (see serve_new_connection).
      if (ws.parked_in_asio >= kMaxParkedInAsio && !client.wakes_quickly &&
          try_hold(ws, st, client, slot, session.idle_until_ms()))
        co_return;
      parked = std::make_unique<Parked>(ws, std::move(st), std::move(client), std::move(slot),
                                        session.idle_until_ms());
    }
  }
  if (h2) {
    // HTTP/2 (ALPN h2, or the preface on a plain listener): the rest of the
    // connection is its, with the session (and its buffers) gone.
    co_await h2->run(std::move(already));
    co_return;
  }
  park(std::move(parked));
}

void serve_new_connection(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot,
                          int64_t first_byte_deadline_ms) {
  // Past the cap, straight to the idle set: Asio keeps a per-descriptor
  // state for every socket it ever watched at once (never freed, scattered
  // through the heap), so a flood of idle connects must not all sit there.
  if (ws.parked_in_asio >= kMaxParkedInAsio &&
      try_hold(ws, s, ci, slot, first_byte_deadline_ms))
    return;
  park(std::make_unique<Parked>(ws, std::move(s), std::move(ci), std::move(slot),
                                first_byte_deadline_ms));
}

void resume_idle(WorkerState& ws, Socket s, IdleConn c) {
  ClientInfo ci;
  ci.ip = c.ip;
  ci.ip_str = core::format_ip(c.ip);
  ci.port = c.port;
  ci.local_port = c.local_port;
  ci.local_ip = c.local_ip;
  ci.local_from_header = c.local_from_header;
  ci.v6 = c.v6;
  ci.served = c.served;
  ci.wakes_quickly = c.served && now_ms() - c.since_ms < kBusyWakeMs;
  ci.tls = c.ssl != nullptr;
  Stream st(std::move(s));
  if (ci.tls) st.restore_ssl(std::move(c.ssl));
  st.restore_nodelay_pending(c.nodelay_pending);
  wake(ws, std::move(st), std::move(ci), std::move(c.slot));
}

void park_tick(WorkerState& ws) {
  int64_t now = now_ms();
  if (ws.idle) ws.idle->expire(now);
  if (ws.worker.draining.load(std::memory_order_relaxed)) return;
  for (Parked* p = ws.parked; p; p = p->next) {
    if (p->to_idle_set || now - p->since_ms < kIdleSetAfterMs) continue;
    p->to_idle_set = true;
    p->stream.cancel();   // its wait completes with operation_aborted: see park()
  }
}

void close_parked(WorkerState& ws) {
  for (Parked* p = ws.parked; p; p = p->next) p->stream.cancel();
  if (ws.idle) ws.idle->close_all();
}

}  // namespace gh::proxy
