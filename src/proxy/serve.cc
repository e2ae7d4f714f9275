#include "proxy/serve.h"

#include <sys/socket.h>

#include <cerrno>

#include "proxy/cache_refresh.h"
#include "proxy/h2_connection.h"
#include "proxy/park.h"
#include "proxy/proxy_header.h"
#include "proxy/session.h"
#include "proxy/sni_passthrough.h"

namespace gh::proxy {

using namespace gh::net;

Proxy::Proxy(Server& server, Shared& shared) {
  for (auto& w : server.workers()) {
    auto st = std::make_unique<WorkerState>(*w, shared);
    WorkerState* sp = st.get();
    w->on_drain = [sp] {
      const int64_t now = now_ms();
      if (sp->drain_started_ms == 0) sp->drain_started_ms = now;
      for (Session* s = sp->sessions; s; s = s->next_session) s->on_drain();
      for (H2Connection* c = sp->h2_connections; c; c = c->next) c->on_drain();
      // Parked connections are idle ones too: the same grace (one whose
      // request arrives meanwhile wakes and is served, see park.cc).
      if (now - sp->drain_started_ms >= WorkerState::kDrainIdleMs) close_parked(*sp);
    };
    sp->idle = std::make_unique<IdleSet>(
        w->ctx, [sp](Socket s, IdleConn c) { resume_idle(*sp, std::move(s), std::move(c)); });
    w->on_abort = [sp] {
      sp->streams.abort_all();
      for (Session* s = sp->sessions; s; s = s->next_session) s->abort();
      for (H2Connection* c = sp->h2_connections; c; c = c->next) c->abort();
      CacheRefresh::cancel_all(*sp);
      close_parked(*sp);
    };
    w->on_tick = [sp] {
      sp->tick();
      park_tick(*sp);
    };
    states_.push_back(std::move(st));
  }
}

std::vector<const WorkerState*> Proxy::worker_states() const {
  std::vector<const WorkerState*> out;
  for (const auto& s : states_) out.push_back(s.get());
  return out;
}

Server::Handler Proxy::handler() {
  return [this](Worker& w, Socket s, tcp::endpoint peer, std::shared_ptr<const ListenerSpec> spec,
                ConnectionSlot slot) {
    return serve(w, std::move(s), peer, std::move(spec), std::move(slot));
  };
}

// An address as ClientInfo holds it (IPv4 as v4-mapped IPv6).
static core::Ip16 ip16_of(const net::asio::ip::address& a) {
  core::Ip16 ip{};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    ip[10] = ip[11] = 0xff;
    std::copy(b.begin(), b.end(), ip.begin() + 12);
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.begin());
  }
  return ip;
}

// From what accept returned and the listener's port: no syscalls.
static ClientInfo client_info(const tcp::endpoint& remote, uint16_t local_port) {
  ClientInfo ci;
  ci.local_port = local_port;
  ci.port = remote.port();
  ci.v6 = remote.address().is_v6();
  ci.ip = ip16_of(remote.address());
  ci.ip_str = core::format_ip(ci.ip);
  return ci;
}

// A `listen` stream's connection: the entry is the one that owns this
// listener in the current snapshot (none when a reload removed it between
// the accept and now: the connection closes).
static awaitable<void> serve_stream_listener(WorkerState& ws, Socket s, ConnectionEnds ends,
                                             const ListenerSpec& spec, ConnectionSlot slot) {
  auto entry = stream_for_listener(ws.runtime(), spec.host, spec.port);
  if (!entry) co_return;
  if (ends.server.port() != 0) {   // from a PROXY header
    co_await stream::serve_stream(ws.streams, std::move(entry), std::move(s), ends.client,
                                  ends.server, std::move(slot));
    co_return;
  }
  const tcp::endpoint peer = ends.client;
  // The address the client connected to: the listener's, unless it is a
  // wildcard (then the socket says; a syscall only then).
  error_code ec;
  auto local_ip = asio::ip::make_address(spec.host == "localhost" ? "127.0.0.1" : spec.host, ec);
  tcp::endpoint local(local_ip, spec.port);
  if (ec || local_ip.is_unspecified()) {
    local = s.local_endpoint(ec);
    if (ec) co_return;
  }
  co_await stream::serve_stream(ws.streams, std::move(entry), std::move(s), peer, local,
                                std::move(slot));
}

// Not a coroutine: the common case (plain HTTP, no PROXY header, not many
// connections open) goes straight to the session's coroutine, without a
// frame of its own for the life of the connection (it was one more frame
// above the 1,020 bytes Asio recycles, see docs/performance.md).
awaitable<void> Proxy::serve(Worker& w, Socket s, tcp::endpoint peer,
                             std::shared_ptr<const ListenerSpec> spec_ptr, ConnectionSlot slot) {
  WorkerState& ws = *states_[w.index];
  if (spec_ptr->kind == "http" && w.connections <= Session::kManyConnections &&
      !(ws.runtime() && ws.runtime()->cfg.server.proxy_protocol)) {
    ws.metrics.connections[0].add();
    // As in serve_any() below, without a PROXY header.
    ClientInfo ci = client_info(peer, spec_ptr->port);
    ci.v6 = peer.address().is_v6();
    Stream st(std::move(s));
    st.nodelay_from_second_write();
    return serve_connection(ws, std::move(st), std::move(ci), std::move(slot));
  }
  return serve_any(w, std::move(s), peer, std::move(spec_ptr), std::move(slot));
}

awaitable<void> Proxy::serve_any(Worker& w, Socket s, tcp::endpoint peer,
                                 std::shared_ptr<const ListenerSpec> spec_ptr, ConnectionSlot slot) {
  const ListenerSpec& spec = *spec_ptr;   // held by this frame
  WorkerState& ws = *states_[w.index];
  if (spec.kind != "stream") ws.metrics.connections[spec.kind == "https" ? 1 : 0].add();
  // server.proxy_protocol: the header's source is the client from here on
  // (forwarding headers, access rules, rate limits, ip_hash, the log).
  // `ends` is also what a TLS passthrough stream would send on.
  ConnectionEnds ends{peer, {}};
  // The PROXY header and the ClientHello peek share one client_header
  // bound (CONTRACT "L4 streams"), not one each.
  int64_t first_bytes_deadline = 0;
  if (ws.runtime() && ws.runtime()->cfg.server.proxy_protocol) {
    std::shared_ptr<const Runtime> rt = ws.runtime();   // held across the wait (a reload may swap it)
    first_bytes_deadline = now_ms() + rt->cfg.server.timeouts.client_header.count();
    const int64_t deadline = first_bytes_deadline;
    const ProxyHeaderOutcome got = co_await take_proxy_header(rt->cfg.server, s, deadline, ends);
    if (got != ProxyHeaderOutcome::ok) {   // refused: the socket closes, nothing served
      ws.metrics.proxy_protocol_refused[static_cast<size_t>(got) - 1].add();
      co_return;
    }
  }
  if (spec.kind == "stream") {
    // server.proxy_protocol covers stream listeners too ("every connection
    // from trusted_proxies"): the header's ends are what the stream's own
    // PROXY header out carries.
    co_await serve_stream_listener(ws, std::move(s), ends, spec, std::move(slot));
    co_return;
  }
  // X-Forwarded-Port / Forwarded say the port the client connected to: the
  // PROXY header's destination when there was one.
  ClientInfo ci = client_info(ends.client, ends.server.port() ? ends.server.port() : spec.port);
  ci.v6 = peer.address().is_v6();   // the socket's own family (parking re-adopts it)
  if (ends.server.port() != 0) {
    // Kept for a TLS passthrough stream decided after a park (its PROXY
    // header out says where the client connected to).
    ci.local_ip = ip16_of(ends.server.address());
    ci.local_from_header = true;
  }
  if (spec.kind == "https") {
    // `sni` streams: the ClientHello decides between passthrough and
    // termination (a parked connection peeks when it wakes, see park.cc).
    if (w.connections <= Session::kManyConnections && has_sni_streams(ws.runtime().get())) {
      if (first_bytes_deadline == 0) {
        first_bytes_deadline = now_ms() + ws.runtime()->cfg.server.timeouts.client_header.count();
      }
      const int64_t deadline = first_bytes_deadline;
      const bool done = co_await pass_through_by_sni(ws, s, ends, slot, deadline);
      if (done) co_return;
    }
    // The context comes from the current snapshot, so reloaded certificates
    // apply to new connections while old ones keep theirs.
    const auto& rt = ws.runtime();
    if (!rt || !rt->server_tls) co_return;
    ci.tls = true;
    error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    Stream st(std::move(s), new_ssl(rt->server_tls->native_handle(), TlsRole::server));
    if (!st.is_tls()) co_return;   // OpenSSL refused (out of memory): the socket closes
    if (w.connections > Session::kManyConnections) {
      // As below: wait parked for the ClientHello; the handshake runs in
      // the session that its first bytes start.
      serve_new_connection(ws, std::move(st), std::move(ci), std::move(slot),
                           now_ms() + rt->cfg.server.timeouts.client_header.count());
      co_return;
    }
    co_await serve_connection(ws, std::move(st), std::move(ci), std::move(slot));
    co_return;
  }
  Stream st(std::move(s));
  st.nodelay_from_second_write();
  if (w.connections > Session::kManyConnections) {
    // Many connections: a new one waits parked for its first bytes instead
    // of holding a session, so a burst of idle connects stays cheap.
    const auto& rt = ws.runtime();
    serve_new_connection(ws, std::move(st), std::move(ci), std::move(slot),
                         now_ms() + rt->cfg.server.timeouts.client_header.count());
    co_return;
  }
  co_await serve_connection(ws, std::move(st), std::move(ci), std::move(slot));
}

}  // namespace gh::proxy
