// The upstream try loop: backend pick, pooled or new connection (DNS,
// connect, TLS), the upstream request and the request body pump. The
// response side is in forward_response.cc, the heads in forward_heads.cc.
#include "proxy/forward.h"

#include <array>

#include "core/log.h"
#include "proxy/body_http1.h"
#include "proxy/retry.h"
#include "tls/ossl.h"
#include "upstream/passive_health.h"

namespace gh::proxy {

using namespace gh::net;

bool is_connection_failure(const Failure& f) {
  std::string_view e = f.error;
  return e == "connection_refused" || e == "connection_timeout" || e == "connection_terminated" ||
         e == "destination_ip_unroutable" || e == "dns_error" || e == "dns_timeout" ||
         e == "http_response_timeout";
}

upstream::Backend* Tries::pick(upstream::Balancer& bal, uint64_t client_hash) {
  upstream::PickContext pc;
  pc.client_hash = client_hash;
  pc.exclude = std::span<upstream::Backend* const>(tried.data(), n);
  pc.now_ms = now_ms();
  upstream::Backend* b = bal.pick(pc);
  if (!b) return nullptr;
  if (n < tried.size()) tried[n++] = b;
  last = b;
  return b;
}

void Forwarder::begin_tries() {
  pump_running_ = pump_failed_ = pump_client_gone_ = pump_stopping_ = false;
  pump_status_ = 0;
  pump_detail_ = "";
  backend_ = nullptr;
  client_gone_ = false;
}

bool Forwarder::note_relay_outcome(const http::RelayOutcome& o, upstream::Backend& b,
                                   size_t backends) {
  LogRecord& rec = *req_->rec;
  switch (o.status) {
    case http::RelayStatus::done:
      return true;
    case http::RelayStatus::src_timeout:
    case http::RelayStatus::src_too_slow:
      rec.proxy_status = "http_response_timeout";
      break;
    case http::RelayStatus::src_closed:
    case http::RelayStatus::src_error:
      rec.proxy_status = "http_response_incomplete";
      break;
    case http::RelayStatus::framing_error:
      rec.proxy_status = "http_response_transfer_coding";
      break;
    case http::RelayStatus::dst_error:
    case http::RelayStatus::too_large:
      return false;   // the client's side failed
  }
  if (client_gone_) {
    rec.status = 499;   // the client reset its stream: not the backend's doing
    rec.proxy_status = {};
    return false;
  }
  if (!pump_status_ && !pump_client_gone_) {
    // (Not when the client broke its request: the pump then cancelled the
    // backend's read, and the backend is not to blame.)
    GH_WARN("backend %s: %.*s: response body cut after %llu bytes", b.name.c_str(),
            static_cast<int>(rec.proxy_status.size()), rec.proxy_status.data(),
            static_cast<unsigned long long>(o.bytes));
    if (o.status != http::RelayStatus::framing_error)
      upstream::record_failure(b, backends > 1, now_ms());
  }
  return false;
}

Forwarder::Forwarder(WorkerState& ws, Executor ex)
    : ws_(ws), ex_(ex), up_dl_(ws.worker.deadlines, &Forwarder::on_up_deadline, this) {}

void Forwarder::on_up_deadline(void* self) {
  auto* f = static_cast<Forwarder*>(self);
  if (f->pump_running_ && f->pump_waiting_client_ && f->req_) {
    // The request body is still coming from the client: the backend cannot
    // be blamed for not answering a request it has not got whole. The
    // client's own timeouts (client_body, the minimum rate) bound the wait.
    f->up_dl_.clear_fired();
    f->up_dl_.expire_in(f->req_->rt->cfg.server.timeouts.upstream_response);
    return;
  }
  if (f->up_) f->up_->stream.cancel();
}

void Forwarder::release(bool reusable) {
  if (!up_) return;
  if (reusable && !up_->stream.socket().is_open()) reusable = false;
  up_in_.clear();
  up_in_.release_if_empty();
  if (reusable) {
    up_->uses++;
    ws_.pool.put(std::move(up_));
  } else {
    up_->stream.close();
    up_.reset();
  }
}

void Forwarder::cancel() {
  client_gone_ = true;
  if (fill_wait_) fill_wait_->cancel();
  if (up_) up_->stream.cancel();
  if (h2_stream_) h2_stream_->wake.wake();
  if (h2_source_) h2_source_->cancel();
  if (pump_running_ && req_ && req_->body.source) req_->body.source->cancel();
}

awaitable<Failure> Forwarder::connect(const RouteRuntime& rr, upstream::Backend* b) {
  const auto& t = req_->rt->cfg.server.timeouts;
  Failure f;
  up_dl_.clear_fired();
  up_dl_.expire_in(t.connect);
  error_code ec = co_await ws_.resolver.resolve(b->host, b->port, endpoints_);
  if (ec) {
    if (up_dl_.fired()) f = {504, "dns_timeout", "name resolution took longer than timeouts.connect"};
    else f = {502, "dns_error", "cannot resolve " + b->host + ": " + ec.message()};
    co_return f;
  }
  f = {504, "connection_timeout", "connect took longer than timeouts.connect"};
  for (const auto& ep : endpoints_) {
    if (up_dl_.fired()) break;
    up_ = std::make_unique<upstream::UpConn>(Stream(Socket(ex_)), b);
    auto [cec] = co_await up_->stream.socket().async_connect(ep, nothrow);
    if (!cec) {
      ws_.metrics.upstream_connects.add();
      error_code ignored;
      up_->stream.socket().set_option(tcp::no_delay(true), ignored);
      if (!rr.tls) co_return Failure{};
      co_return co_await tls_handshake(rr, b);
    }
    up_.reset();
    if (up_dl_.fired() || cec == asio::error::timed_out) {
      f = {504, "connection_timeout", "connect took longer than timeouts.connect"};
      break;
    }
    if (cec == asio::error::connection_refused) f = {502, "connection_refused", ""};
    else if (cec == asio::error::host_unreachable || cec == asio::error::network_unreachable)
      f = {502, "destination_ip_unroutable", cec.message()};
    else f = {502, "connection_refused", cec.message()};
  }
  if (f.status == 504) ws_.resolver.invalidate(b->host);
  co_return f;
}

// TLS to the backend over the connected socket in up_: verified as the
// route's tls block says; the session is cached for the next connection.
awaitable<Failure> Forwarder::tls_handshake(const RouteRuntime& rr, upstream::Backend* b) {
  SslHandle ssl = new_ssl(rr.tls->native_handle(), TlsRole::client);
  const bool h2 = rr.conf->upstream_protocol == config::UpstreamProtocol::http2;
  static constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
  if (!ssl || !rr.tls->prepare(ssl.get(), b->host, b->port) ||
      (h2 && SSL_set_alpn_protos(ssl.get(), kAlpnH2, sizeof kAlpnH2) != 0) ||
      !up_->stream.start_tls(std::move(ssl))) {
    up_.reset();
    co_return Failure{502, "tls_protocol_error", "cannot use this backend name for TLS"};
  }
  error_code ec = co_await up_->stream.handshake();
  if (!ec) {
    rr.tls->save_session(up_->stream.ssl());
    if (h2) {
      // RFC 9113 3.2: h2 over TLS only when the backend chose it.
      if (!tls::alpn_is_h2(up_->stream.ssl())) {
        up_.reset();
        co_return Failure{502, "tls_protocol_error", "backend did not choose h2 in ALPN"};
      }
    }
    co_return Failure{};
  }
  Failure f;
  std::string why = tls::ClientContext::verify_error(up_->stream.ssl());
  if (up_dl_.fired()) f = {504, "connection_timeout", "TLS handshake took longer than timeouts.connect"};
  else if (!why.empty()) f = {502, "tls_certificate_error", why};
  else f = {502, "tls_protocol_error", ec.message()};
  rr.tls->forget_session(b->host, b->port);
  up_.reset();
  co_return f;
}

// The rest of a streamed request body, client to backend, while the main
// coroutine waits for the response.
awaitable<void> Forwarder::pump_request_body(http::BodySink& sink) {
  const auto& srv = req_->rt->cfg.server;
  uint64_t max = srv.limits.max_body_bytes;
  uint64_t allowed = 0;
  if (max) allowed = req_->body_in >= max ? 1 : max - req_->body_in;
  req_->body.source->waiting = &pump_waiting_client_;
  // (Plain TCP both sides, a large Content-Length body: splice(2).)
  http::RelayOutcome o = co_await relay_body_maybe_spliced(*req_->body.source, sink, allowed, ws_.streams.pipes);
  req_->body.source->waiting = nullptr;
  req_->body_in += o.bytes;
  pump_wrote_ = o.wrote;
  if (pump_stopping_ && o.status != http::RelayStatus::done) {
    // Cancelled by stop_pump: the upstream side failed or the response is
    // complete; a read error now says nothing about the client.
    pump_failed_ = true;
    down_->close_after_response();
    co_return;
  }
  switch (o.status) {
    case http::RelayStatus::done:
      req_->body_read = true;
      break;
    case http::RelayStatus::too_large:
      pump_status_ = 413;
      pump_detail_ = "request body larger than limits.max_body_bytes";
      break;
    case http::RelayStatus::src_timeout:
      pump_status_ = 408;
      pump_detail_ = "request body not received in time";
      break;
    case http::RelayStatus::src_too_slow:
      pump_status_ = 408;
      pump_detail_ = "request body slower than limits.request_body_min_rate";
      break;
    case http::RelayStatus::framing_error:
      pump_status_ = 400;
      pump_detail_ = o.detail;
      break;
    case http::RelayStatus::src_closed:
    case http::RelayStatus::src_error:
      pump_client_gone_ = true;
      break;
    case http::RelayStatus::dst_error:
      break;  // the backend stopped reading: its response (if any) is still readable
  }
  if (o.status != http::RelayStatus::done) {
    pump_failed_ = true;
    down_->close_after_response();
    // The client broke the request: stop waiting for the backend's answer.
    if ((pump_status_ || pump_client_gone_) && up_) up_->stream.cancel();
  }
}

awaitable<void> Forwarder::stop_pump() {
  if (!pump_running_) co_return;
  asio::steady_timer t(ex_);
  t.expires_at(asio::steady_timer::time_point::max());
  pump_waiter_ = &t;
  pump_stopping_ = true;
  req_->body.source->cancel();
  if (up_) up_->stream.cancel();
  if (h2_sink_) h2_sink_->cancel();
  co_await t.async_wait(nothrow);
  pump_waiter_ = nullptr;
  pump_stopping_ = false;
}

awaitable<bool> Forwarder::forward(ForwardRequest& req, Downstream& down) {
  req_ = &req;
  down_ = &down;
  // (Not a coroutine itself: a route without a cache pays no extra frame.)
  const policy::CacheRule* cache = req.pipeline->cache();
  cx_.reset(cache);
  if (cache) return forward_cached(*cache);
  return forward_upstream();
}

awaitable<bool> Forwarder::forward_upstream() {
  ForwardRequest& req = *req_;
  Downstream& down = *down_;
  const RouteRuntime& rr = req.rt->routes[req.route_index];
  if (rr.conf->upstream_protocol == config::UpstreamProtocol::http2) co_return co_await forward_h2(rr);
  const config::Route& route = *rr.conf;
  const auto& srv = req.rt->cfg.server;
  upstream::Balancer* bal = ws_.balancer(req.route_index);
  const RequestBody& body = req.body;
  const bool streamed = body.kind == RequestBody::Kind::stream;
  // A body held whole (or none) goes with the head, and a failed try can be
  // repeated as the retry rule allows.
  const bool body_whole = !streamed;
  method_.assign(req.head->method);
  // A request that could not be sent again must not meet a connection the
  // backend closed a moment ago: check every pooled connection it takes.
  const bool replayable_when_sent = may_retry(TryProgress::sent, method_, body_whole);

  Tries tries;
  Failure& last = tries.failure;
  bool head_released = false;    // the source let the request head go (streamed bodies)
  uint64_t first_payload = 0;    // body bytes sent with the head
  begin_tries();

  for (unsigned attempt = 0; attempt <= route.retries; ++attempt) {
    upstream::Backend* b = tries.pick(*bal, req.client_hash);
    if (!b) break;
    backend_ = b;
    if (attempt > 0) ws_.metrics.retry(rr.stats_slot);
    const bool may_eject = rr.backends.size() > 1;

    bool fresh_retry_used = false;
    bool stop = false;
    for (;;) {
      up_ = ws_.pool.take(b, !replayable_when_sent);
      const bool reused = up_ != nullptr;
      if (!up_) {
        Failure f = co_await connect(rr, b);
        if (f.status && client_gone_) {
          req.rec->status = 499;
          release(false);
          down.close_after_response();
          co_return false;
        }
        if (f.status) {
          // Nothing was sent: any request may go to another backend.
          last = f;
          upstream::record_failure(*b, may_eject, now_ms());
          GH_WARN("backend %s: %s%s%s", b->name.c_str(), f.error, f.details.empty() ? "" : ": ",
                  f.details.c_str());
          break;
        }
      }
      // After a head-only try of a streamed body the head has gone with
      // the source's first consume; the head serialized for it goes again,
      // retargeted.
      if (!head_released) build_upstream_head(rr, *b);
      else retarget_upstream_head(rr, *b);
      const int64_t upstream_start_us = now_us();
      InFlight in_flight(b);

      up_dl_.clear_fired();
      up_dl_.expire_in(srv.timeouts.upstream_response);
      // The head, and with it what body there is to send now.
      Http1BodySink sink(up_->stream, up_dl_, srv.timeouts.upstream_response,
                         streamed && !body.length_known);
      sink.hold_head(out_);
      // (A member, not a local: the coroutine frame stays under malloc's
      // per-thread cache limit.)
      http::BodyBatch& first = first_batch_;
      first = http::BodyBatch{};
      bool first_taken = false;
      if (body.kind == RequestBody::Kind::whole) {
        first.add(body.whole);
      } else if (streamed && !head_released) {
        http::RelayStatus st = body.source->take(first);
        uint64_t max = srv.limits.max_body_bytes;
        if (st != http::RelayStatus::done || (max && first.payload > max)) {
          down.close_after_response();
          release(false);
          if (st != http::RelayStatus::done)
            co_await down.send_error(400, "http_request_error", body.source->detail(), {});
          else
            co_await down.send_error(413, "http_request_error",
                                     "request body larger than limits.max_body_bytes", {});
          co_return false;
        }
        first_taken = true;
      }
      const bool wec = !co_await sink.write(first);
      pump_wrote_ = false;
      if (!wec && first_taken) {
        body.source->consume(first);
        head_released = true;
        first_payload = first.payload;
        req.body_in = first.payload;
        if (first.end) req.body_read = true;
      }
      if (!wec && streamed && !req.body_read) {
        // The rest of the body streams while we wait for the response, so a
        // backend that answers early (or sends 100 Continue) is heard.
        pump_running_ = true;
        pump_failed_ = false;
        asio::co_spawn(ex_, pump_request_body(sink), [this](std::exception_ptr) {
          pump_running_ = false;
          if (pump_waiter_) pump_waiter_->cancel();
        });
      }
      Failure f;
      // (No co_await in a short-circuit operand: GCC 12 then destroys the
      // awaitable's frame even when the operand is skipped.)
      bool ok = false;
      if (!wec) {
        // While the backend works, a client that closes its connection ends
        // the exchange (499); a streamed body's pump watches the client itself.
        if (!pump_running_) down.watch_client(true);
        ok = co_await read_response_head(f);
        down.watch_client(false);
      }
      if (wec) f = {502, "connection_terminated", "backend closed the connection"};
      if (!ok) {
        if (pump_running_) co_await stop_pump();
        release(false);
        if (pump_status_) {
          down.close_after_response();
          co_await down.send_error(pump_status_, "http_request_error", pump_detail_, {});
          co_return false;
        }
        if (pump_client_gone_ || f.status == 0 || client_gone_) {
          req.rec->status = 499;
          req.body_read = true;   // gone: nothing to linger for
          down.close_after_response();
          co_return false;
        }
        // How far this try got decides whether the request may be sent again.
        TryProgress progress = TryProgress::sent;
        if (streamed && first_payload == 0 && !req.body_read && !pump_wrote_ && !wec)
          progress = TryProgress::head_only;
        const bool again = may_retry(progress, method_, body_whole);
        if (again && reused && !fresh_retry_used &&
            std::string_view(f.error) == "connection_terminated") {
          // A kept-alive connection the backend had closed: the same backend
          // on a fresh connection, not counted against its health.
          fresh_retry_used = true;
          ws_.metrics.retry(rr.stats_slot);
          continue;
        }
        last = f;
        if (is_connection_failure(f)) upstream::record_failure(*b, may_eject, now_ms());
        GH_WARN("backend %s: %s%s%s%s", b->name.c_str(), f.error, f.details.empty() ? "" : ": ",
                f.details.c_str(), again ? "" : " (not retried: the request may have been applied)");
        if (!again) stop = true;
        break;
      }
      upstream::record_success(*b);
      if (body_whole) down.request_delivered();
      req.rec->upstream_ms = double(now_us() - upstream_start_us) / 1000.0;
      req.rec->upstream_status = resp_.status;
      co_return co_await relay_response(rr, *b);
    }
    if (stop) break;
  }
  if (body_whole) down.request_delivered();   // the next request may follow
  else down.close_after_response();
  // (GCC 12 miscompiles a ?: inside co_await arguments: compute it first.)
  std::string_view hop;
  if (tries.last) hop = tries.last->name;
  if (cx_.rule) co_return co_await cache_failed(last, hop);
  co_await down.send_error(last.status, last.error, last.details, hop);
  co_return down.keeps_connection();
}

}  // namespace gh::proxy
