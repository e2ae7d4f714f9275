#include "proxy/park.h"

#include <sys/socket.h>

namespace gh::proxy {

using namespace gh::net;

Parked::Parked(WorkerState& w, Stream s, ClientInfo ci, ConnectionSlot sl, int64_t idle_until)
    : ws(w),
      stream(std::move(s)),
      client(std::move(ci)),
      slot(std::move(sl)),
      deadline(w.worker.deadlines, [](void* self) { static_cast<Parked*>(self)->stream.cancel(); },
               this) {
  deadline.expire_at(idle_until);
  next = ws.parked;
  if (next) next->prev = this;
  ws.parked = this;
}

Parked::~Parked() {
  if (prev) prev->next = next;
  else ws.parked = next;
  if (next) next->prev = prev;
}

static void park(std::unique_ptr<Parked> p) {
  Parked* raw = p.get();
  raw->stream.socket().async_wait(
      Socket::wait_read, [p = std::move(p)](error_code ec) mutable {
        if (ec || p->ws.worker.draining.load(std::memory_order_relaxed)) {
          p->stream.close();
          return;   // timeout, drain or error: the slot is released with p
        }
        WorkerState& ws = p->ws;
        asio::co_spawn(ws.worker.ctx,
                       serve_connection(ws, std::move(p->stream), std::move(p->client),
                                        std::move(p->slot)),
                       asio::detached);
      });
}

awaitable<void> serve_connection(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot) {
  std::unique_ptr<Parked> parked;
  {
    Session session(ws, std::move(s), std::move(ci));
    if (!co_await session.run()) co_return;
    parked = std::make_unique<Parked>(ws, session.take_stream(), session.take_client(),
                                      std::move(slot), session.idle_until_ms());
  }
  park(std::move(parked));
}

void serve_new_connection(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot,
                          int64_t first_byte_deadline_ms) {
  auto p = std::make_unique<Parked>(ws, std::move(s), std::move(ci), std::move(slot),
                                    first_byte_deadline_ms);
  park(std::move(p));
}

void close_parked(WorkerState& ws) {
  for (Parked* p = ws.parked; p; p = p->next) p->stream.cancel();
}

}  // namespace gh::proxy
