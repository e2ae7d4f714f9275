// One request's trip upstream: pick a backend, get a connection, send the
// head and body, read the response head, relay the response. Failures before
// anything reached the client become a named 5xx (Proxy-Status) or a retry.
#include <array>
#include <cstdio>

#include "core/log.h"
#include "http/status.h"
#include "proxy/body_relay.h"
#include "proxy/retry.h"
#include "proxy/session.h"
#include "proxy/websocket_accept.h"
#include "upstream/passive_health.h"

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

// Connection-level failures count against the backend; a bad response does not
// say the backend is down.
static bool is_connection_failure(const Failure& f) {
  std::string_view e = f.error;
  return e == "connection_refused" || e == "connection_timeout" || e == "connection_terminated" ||
         e == "destination_ip_unroutable" || e == "dns_error" || e == "dns_timeout" ||
         e == "http_response_timeout";
}

void Session::release_upstream(bool reusable) {
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

awaitable<Failure> Session::connect_upstream(const RouteRuntime& rr, upstream::Backend* b) {
  const auto& t = rt_->cfg.server.timeouts;
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
    up_ = std::make_unique<upstream::UpConn>(Stream(Socket(down_.socket().get_executor())), b);
    auto [cec] = co_await up_->stream.socket().async_connect(ep, nothrow);
    if (!cec) {
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
awaitable<Failure> Session::tls_handshake(const RouteRuntime& rr, upstream::Backend* b) {
  SslHandle ssl = new_ssl(rr.tls->native_handle(), TlsRole::client);
  if (!ssl || !rr.tls->prepare(ssl.get(), b->host, b->port) ||
      !up_->stream.start_tls(std::move(ssl))) {
    up_.reset();
    co_return Failure{502, "tls_protocol_error", "cannot use this backend name for TLS"};
  }
  error_code ec = co_await up_->stream.handshake();
  if (!ec) {
    rr.tls->save_session(up_->stream.ssl());
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

awaitable<bool> Session::read_response_head(Failure& f) {
  const auto& srv = rt_->cfg.server;
  http1::Limits lim;
  lim.max_head = std::max<size_t>(srv.limits.max_header_bytes, 64 * 1024);
  up_dl_.clear_fired();
  up_dl_.expire_in(srv.timeouts.upstream_response);
  bool got_bytes = !up_in_.empty();
  for (;;) {
    if (pump_status_ || pump_client_gone_) {
      f = {0, "", ""};   // the request broke on the client side; the caller answers
      co_return false;
    }
    if (!up_in_.empty()) {
      auto st = http1::parse_response(up_in_.view(), resp_, is_head_, lim, perr_);
      if (st == http1::ParseStatus::complete) {
        if (resp_.status < 200 && resp_.status != 101) {
          // Interim responses (100 Continue, 103 Early Hints) go on to HTTP/1.1
          // clients; a 100 only once (gatehouse may have sent its own).
          if (client_minor_ >= 1 && !(resp_.status == 100 && sent_continue_)) {
            scratch_.clear();
            scratch_ += "HTTP/1.1 ";
            scratch_ += std::to_string(resp_.status);
            scratch_ += ' ';
            scratch_ += http::reason_phrase(resp_.status);
            scratch_ += "\r\n";
            for (const auto& h : resp_.headers) {
              if (http1::iequals(h.name, "connection") || http1::iequals(h.name, "keep-alive"))
                continue;
              scratch_ += h.name;
              scratch_ += ": ";
              scratch_ += h.value;
              scratch_ += "\r\n";
            }
            scratch_ += "\r\n";
            if (!co_await write_down(scratch_)) {
              f = {0, "", ""};
              co_return false;
            }
          }
          up_in_.consume(resp_.head_size);
          up_dl_.expire_in(srv.timeouts.upstream_response);
          got_bytes = !up_in_.empty();   // a close now is before the final response
          continue;
        }
        co_return true;
      }
      if (st == http1::ParseStatus::error) {
        bool too_big = up_in_.size() >= lim.max_head;
        f = {502, too_big ? "http_response_header_section_size" : "http_protocol_error", perr_.detail};
        co_return false;
      }
    }
    if (up_in_.tail_room() < 2048) up_in_.reserve_tail(up_in_.size() < 16384 ? 16384 : up_in_.size());
    auto [ec, n] = co_await up_->stream.read_some(asio::buffer(up_in_.tail(), up_in_.tail_room()));
    if (ec || n == 0) {
      if (up_dl_.fired()) f = {504, "http_response_timeout", "no response within timeouts.upstream_response"};
      else if (!got_bytes) f = {502, "connection_terminated", "backend closed the connection before responding"};
      else f = {502, "http_response_incomplete", "backend closed the connection in the response head"};
      co_return false;
    }
    got_bytes = true;
    up_in_.commit(n);
  }
}

awaitable<void> Session::pump_request_body(BodyKind kind, uint64_t remaining) {
  const auto& srv = rt_->cfg.server;
  req_chunks_.reset();
  uint64_t max = srv.limits.max_body_bytes;
  uint64_t allowed = 0;
  if (max) allowed = body_in_ >= max ? 1 : max - body_in_;
  RelayOutcome o = co_await relay_body(
      RelayEnds{down_, in_, down_dl_, srv.timeouts.client_body, up_->stream, up_dl_,
                srv.timeouts.upstream_response, srv.limits.request_body_min_rate,
                req_.expect_continue, &pump_waiting_client_},
      kind, remaining, kind == BodyKind::chunked, req_chunks_, allowed, {});
  body_in_ += o.bytes;
  pump_wrote_ = o.wrote;
  if (pump_stopping_ && o.status != RelayStatus::done) {
    // Cancelled by stop_pump: the upstream side failed or the response is
    // complete; a read error now says nothing about the client.
    pump_failed_ = true;
    closing_ = true;
    co_return;
  }
  switch (o.status) {
    case RelayStatus::done:
      body_unread_ = false;
      break;
    case RelayStatus::too_large:
      pump_status_ = 413;
      pump_detail_ = "request body larger than limits.max_body_bytes";
      break;
    case RelayStatus::src_timeout:
      pump_status_ = 408;
      pump_detail_ = "request body not received in time";
      break;
    case RelayStatus::src_too_slow:
      pump_status_ = 408;
      pump_detail_ = "request body slower than limits.request_body_min_rate";
      break;
    case RelayStatus::framing_error:
      pump_status_ = 400;
      pump_detail_ = o.detail;
      break;
    case RelayStatus::src_closed:
    case RelayStatus::src_error:
      pump_client_gone_ = true;
      break;
    case RelayStatus::dst_error:
      break;  // the backend stopped reading: its response (if any) is still readable
  }
  if (o.status != RelayStatus::done) {
    pump_failed_ = true;
    closing_ = true;
    // The client broke the request: stop waiting for the backend's answer.
    if ((pump_status_ || pump_client_gone_) && up_) up_->stream.cancel();
  }
}

awaitable<void> Session::stop_pump() {
  if (!pump_running_) co_return;
  asio::steady_timer t(down_.socket().get_executor());
  t.expires_at(asio::steady_timer::time_point::max());
  pump_waiter_ = &t;
  pump_stopping_ = true;
  down_.cancel();
  if (up_) up_->stream.cancel();
  co_await t.async_wait(nothrow);
  pump_waiter_ = nullptr;
  pump_stopping_ = false;
}

// Receives the request body before any backend is chosen when it fits
// limits.request_buffer, so a client that sends slowly costs the proxy some
// memory and never a backend worker (nginx's request buffering), and the
// body can be sent again if a try fails. A Content-Length body stays in in_
// after the head; a chunked one is decoded into body_ and goes on with a
// Content-Length (chunk-coded again only when it has trailers). Bodies that
// are larger (or chunked beyond the limit) stream instead, as before.
// Expect: 100-continue is answered here when the body is to be received
// here (as nginx and Envoy do): the backend then gets the whole request and
// no Expect. Answers the client itself for 400/408/413 and returns answered;
// answered also when the client went away (rec_.status 499).
awaitable<Session::BodyWait> Session::receive_request_body() {
  const auto& srv = rt_->cfg.server;
  const uint64_t limit = srv.limits.request_buffer;
  const uint64_t max_body = srv.limits.max_body_bytes;
  const size_t head = req_.head_size;
  const bool chunked = req_.body == BodyKind::chunked;
  const uint64_t cl = chunked ? 0 : req_.content_length;
  if (req_.body == BodyKind::none) co_return BodyWait::complete;
  if (limit == 0 || (!chunked && cl > limit)) co_return BodyWait::stream;

  const char* const head_at = in_.data();
  if (req_.expect_continue && in_.size() == head) {
    sent_continue_ = true;
    if (!co_await write_down("HTTP/1.1 100 Continue\r\n\r\n")) {
      rec_.status = 499;
      closing_ = true;
      co_return BodyWait::answered;
    }
  }
  size_t raw = 0;           // chunked: bytes after the head decoded so far
  uint64_t payload = 0;
  if (chunked) {
    req_chunks_.reset();
    body_.clear();
  }
  for (;;) {
    if (!chunked && in_.size() - head >= cl) {
      up_body_ = UpBody::buffered;
      raw_body_size_ = static_cast<size_t>(cl);
      payload = cl;
      break;
    }
    if (chunked) {
      bool done = false;
      for (;;) {
        auto step = req_chunks_.next(in_.view().substr(head + raw));
        if (step.error) {
          closing_ = true;
          co_await send_error(400, "http_request_error", step.detail);
          co_return BodyWait::answered;
        }
        body_.append(step.data);
        payload += step.data.size();
        raw += step.consumed;
        if (max_body && payload > max_body) {
          closing_ = true;
          co_await send_error(413, "http_request_error", "request body larger than limits.max_body_bytes");
          co_return BodyWait::answered;
        }
        if (step.done) {
          done = true;
          break;
        }
        if (step.consumed == 0) break;
      }
      if (done) {
        up_body_ = UpBody::rebuilt;
        raw_body_size_ = raw;
        up_body_chunked_ = !req_chunks_.trailers().empty();
        if (up_body_chunked_) {
          char size_line[24];
          int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", body_.size());
          std::string coded(size_line, static_cast<size_t>(n));
          if (!body_.empty()) {
            coded += body_;
            coded += "\r\n0\r\n";
          }
          coded += req_chunks_.trailers();
          coded += "\r\n";
          body_ = std::move(coded);
        }
        break;
      }
      if (in_.size() - head > limit) {
        // Larger than we hold: stream it from the start (the pump decodes again).
        body_.clear();
        if (in_.data() != head_at) reparse_head();
        co_return BodyWait::stream;
      }
    }
    const size_t want = chunked ? 16 * 1024 : static_cast<size_t>(head + cl - in_.size());
    if (in_.tail_room() < want) {
      if (chunked) in_.reserve_tail(want);
      else in_.reserve_tail_exact(want);   // the body's size is known
    }
    down_dl_.clear_fired();
    down_dl_.expire_in(srv.timeouts.client_body);
    auto [ec, n] = co_await down_.read_some(asio::buffer(in_.tail(), in_.tail_room()));
    if (ec || n == 0) {
      if (down_dl_.fired()) {
        closing_ = true;
        co_await send_error(408, "http_request_error", "request body not received in time");
      } else {
        rec_.status = 499;   // the client went away mid-body
        closing_ = true;
        body_unread_ = false;
        body_in_ = in_.size() - head;   // what had arrived (chunked: with its framing)
      }
      co_return BodyWait::answered;
    }
    in_.commit(n);
  }
  body_in_ = payload;
  body_unread_ = false;
  // Growing the buffer may have moved the head: its parsed views must follow.
  if (in_.data() != head_at) reparse_head();
  co_return BodyWait::complete;
}

// Parses the request head again after in_ moved: the same bytes give the same
// head, now with views into the buffer's new place.
void Session::reparse_head() {
  http1::Limits lim;
  lim.max_head = rt_->cfg.server.limits.max_header_bytes;
  http1::parse_request(in_.view(), req_, lim, perr_);
  fill_exchange();
}

awaitable<bool> Session::forward(size_t idx) {
  const RouteRuntime& rr = rt_->routes[idx];
  const config::Route& route = *rr.conf;
  const auto& srv = rt_->cfg.server;
  upstream::Balancer* bal = ws_.balancer(idx);

  upgrade_requested_ = req_.conn_upgrade && !req_.upgrade.empty() &&
                       !http1::iequals(req_.upgrade, "h2c");  // h2c upgrades are a smuggling vector
  m_upgrade_.assign(upgrade_requested_ ? req_.upgrade : std::string_view());

  const BodyKind kind = req_.body;
  const uint64_t cl = kind == BodyKind::content_length ? req_.content_length : 0;
  BodyWait bw = co_await receive_request_body();
  if (bw == BodyWait::answered) co_return false;
  const size_t head = req_.head_size;
  // The whole body is here (or there is none): it goes with the head, and a
  // failed try can be repeated as the retry rule allows.
  const bool body_whole = bw == BodyWait::complete;
  // Body bytes of in_ sent with the head (and consumed with it).
  size_t raw_used = 0;
  if (up_body_ == UpBody::buffered) raw_used = static_cast<size_t>(cl);
  else if (up_body_ == UpBody::rebuilt) raw_used = raw_body_size_;
  else if (kind == BodyKind::content_length)
    raw_used = static_cast<size_t>(std::min<uint64_t>(in_.size() - head, cl));
  if (!body_whole && kind == BodyKind::chunked) {
    // Check the chunked bytes already here before anything goes upstream, so
    // a malformed body is refused without the backend ever seeing its head.
    req_chunks_.reset();
    std::string_view rest = in_.view().substr(head);
    for (;;) {
      auto step = req_chunks_.next(rest);
      if (step.error) {
        closing_ = true;
        co_await send_error(400, "http_request_error", step.detail);
        co_return false;
      }
      rest.remove_prefix(step.consumed);
      if (step.done || step.consumed == 0) break;
    }
  }
  // A request that could not be sent again must not meet a connection the
  // backend closed a moment ago: check every pooled connection it takes.
  const bool replayable_when_sent = may_retry(TryProgress::sent, req_.method, body_whole);

  std::array<upstream::Backend*, 8> tried{};
  size_t ntried = 0;
  Failure last{503, "destination_unavailable", "no healthy backend for this route"};
  upstream::Backend* last_backend = nullptr;
  bool head_consumed = false;
  pump_running_ = pump_failed_ = pump_client_gone_ = pump_stopping_ = false;
  pump_status_ = 0;
  pump_detail_ = "";

  for (unsigned attempt = 0; attempt <= route.retries; ++attempt) {
    upstream::PickContext pc;
    pc.client_hash = client_hash_;
    pc.exclude = std::span<upstream::Backend* const>(tried.data(), ntried);
    pc.now_ms = now_ms();
    upstream::Backend* b = bal->pick(pc);
    if (!b) break;
    if (ntried < tried.size()) tried[ntried++] = b;
    backend_ = last_backend = b;
    const bool may_eject = rr.backends.size() > 1;

    bool fresh_retry_used = false;
    bool stop = false;
    for (;;) {
      up_ = ws_.pool.take(b, !replayable_when_sent);
      const bool reused = up_ != nullptr;
      if (!up_) {
        Failure f = co_await connect_upstream(rr, b);
        if (f.status) {
          // Nothing was sent: any request may go to another backend.
          last = f;
          upstream::record_failure(*b, may_eject, now_ms());
          GH_WARN("backend %s: %s%s%s", b->name.c_str(), f.error, f.details.empty() ? "" : ": ",
                  f.details.c_str());
          break;
        }
      }
      // After a head-only try the head left in_ with the pump; the head
      // serialized for it (still in out_) goes again, retargeted.
      if (!head_consumed) build_upstream_head(rr, *b);
      else retarget_upstream_head(rr, *b);
      upstream_start_us_ = now_us();
      b->requests.fetch_add(1, std::memory_order_relaxed);
      b->in_flight.fetch_add(1, std::memory_order_relaxed);
      struct InFlight {
        upstream::Backend* b;
        ~InFlight() { b->in_flight.fetch_sub(1, std::memory_order_relaxed); }
      } in_flight_guard{b};

      up_dl_.clear_fired();
      up_dl_.expire_in(srv.timeouts.upstream_response);
      std::string_view body;
      if (up_body_ == UpBody::rebuilt) body = body_;
      else if (!head_consumed) body = in_.view().substr(head, raw_used);
      std::array<asio::const_buffer, 2> bufs{asio::buffer(out_.data(), out_.size()),
                                             asio::buffer(body.data(), body.size())};
      auto [wec, wn] = co_await up_->stream.write_all(bufs);
      pump_wrote_ = false;
      if (!wec && !body_whole) {
        // The rest of the body streams while we wait for the response, so a
        // backend that answers early (or sends 100 Continue) is heard.
        if (!head_consumed) {
          in_.consume(head + raw_used);
          head_consumed = true;
          body_in_ = raw_used;
        }
        pump_running_ = true;
        pump_failed_ = false;
        asio::co_spawn(down_.socket().get_executor(),
                       pump_request_body(kind, kind == BodyKind::content_length ? cl - body_in_ : 0),
                       [this](std::exception_ptr) {
                         pump_running_ = false;
                         if (pump_waiter_) pump_waiter_->cancel();
                       });
      }
      Failure f;
      bool ok = !wec && co_await read_response_head(f);
      if (wec) f = {502, "connection_terminated", "backend closed the connection"};
      if (!ok) {
        if (pump_running_) co_await stop_pump();
        release_upstream(false);
        if (pump_status_) {
          closing_ = true;
          co_await send_error(pump_status_, "http_request_error", pump_detail_);
          co_return false;
        }
        if (pump_client_gone_ || f.status == 0) {
          rec_.status = 499;
          body_unread_ = false;
          co_return false;
        }
        // How far this try got decides whether the request may be sent again.
        TryProgress progress = TryProgress::sent;
        if (kind != BodyKind::none && !body_whole && raw_used == 0 && !pump_wrote_ && !wec)
          progress = TryProgress::head_only;
        const bool again = may_retry(progress, req_.method, body_whole);
        if (again && reused && !fresh_retry_used &&
            std::string_view(f.error) == "connection_terminated") {
          // A kept-alive connection the backend had closed: the same backend
          // on a fresh connection, not counted against its health.
          fresh_retry_used = true;
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
      if (!head_consumed) {
        in_.consume(head + raw_used);
        head_consumed = true;
        if (!body_whole) body_in_ = raw_used;
      }
      if (in_.empty() && in_.capacity() > core::Buffer::kBlock) in_.release_if_empty();
      if (body_.capacity() > core::Buffer::kBlock) std::string().swap(body_);
      rec_.upstream_ms = double(now_us() - upstream_start_us_) / 1000.0;
      co_return co_await relay_response(rr, *b);
    }
    if (stop) break;
  }
  if (!head_consumed && body_whole) {
    in_.consume(head + raw_used);   // the next request may follow
  } else {
    closing_ = true;
  }
  // (GCC 12 miscompiles a ?: inside co_await arguments: compute it first.)
  std::string_view hop;
  if (last_backend) hop = last_backend->name;
  co_await send_error(last.status, last.error, last.details, hop);
  co_return !closing_;
}

awaitable<bool> Session::relay_response(const RouteRuntime& rr, upstream::Backend& b) {
  const auto& srv = rt_->cfg.server;
  if (resp_.status == 101) {
    bool valid = upgrade_requested_;
    const char* why = "backend switched protocols without an upgrade request";
    if (valid && http1::list_contains(m_upgrade_, "websocket") && !m_ws_key_.empty()) {
      std::string_view accept;
      for (const auto& h : resp_.headers)
        if (http1::iequals(h.name, "sec-websocket-accept")) accept = h.value;
      if (accept != websocket_accept(m_ws_key_)) {
        valid = false;
        why = "backend sent a wrong Sec-WebSocket-Accept";
      }
    }
    if (!valid) {
      if (pump_running_) co_await stop_pump();
      release_upstream(false);
      closing_ = true;
      co_await send_error(502, "http_upgrade_failed", why, b.name);
      co_return false;
    }
    build_downstream_head(rr, b, false, false);
    up_in_.consume(resp_.head_size);
    if (!in_.empty()) {
      // The client sent bytes before it could have seen the 101 (RFC 6455
      // forbids that): they were meant as HTTP, never as tunnel data.
      GH_WARN("client %s sent %zu bytes before the 101 of its upgrade; dropped, not tunnelled",
              client_.ip_str.c_str(), in_.size());
      in_.clear();
    }
    rec_.status = 101;
    response_started_ = true;
    if (!co_await write_down(out_)) co_return false;
    finish_log();   // the request is done; the tunnel may last hours
    co_await tunnel();
    co_return false;
  }

  bool client_keep = client_keep_alive_ && !closing_ && !pump_running_ &&
                     !ws_.worker.draining.load(std::memory_order_relaxed);
  if (resp_.status >= 400 && pipe_->intercepts_errors() && pipe_->error_page(resp_.status, true)) {
    // intercept_errors: the backend's own error goes out with our page as its
    // body. A body that already arrived whole (error bodies are small) is
    // dropped and the connection kept; anything else is not read: the
    // connection to the backend is closed instead.
    const bool had_pump = pump_running_;
    if (pump_running_) co_await stop_pump();
    if (pump_failed_) client_keep = false;
    const size_t whole = resp_.head_size + static_cast<size_t>(resp_.content_length);
    const bool drained = !had_pump && !pump_failed_ &&
                         (resp_.body == BodyKind::none ||
                          (resp_.body == BodyKind::content_length && up_in_.size() == whole));
    if (drained) up_in_.clear();
    release_upstream(drained && resp_.keep_alive());
    if (!client_keep) closing_ = true;
    co_await send_own_response(resp_.status, {}, {}, true);
    co_return client_keep;
  }
  BodyKind kind = resp_.body;
  bool chunk_out = false;
  if (kind == BodyKind::until_close) {
    if (client_minor_ >= 1) chunk_out = true;
    else client_keep = false;
  }
  // A chunked response to an HTTP/1.0 client: de-chunk and close to delimit.
  if (kind == BodyKind::chunked && client_minor_ == 0) client_keep = false;
  else if (kind == BodyKind::chunked) chunk_out = true;
  build_downstream_head(rr, b, chunk_out, !client_keep);
  up_in_.consume(resp_.head_size);
  rec_.status = resp_.status;
  response_started_ = true;
  resp_chunks_.reset();
  const int64_t resp_len = kind == BodyKind::content_length ? resp_.content_length : 0;
  const bool upstream_keep_hint = resp_.keep_alive();
  RelayOutcome o = co_await relay_body(
      RelayEnds{up_->stream, up_in_, up_dl_, srv.timeouts.upstream_response, down_, down_dl_,
                srv.timeouts.client_body},
      kind, resp_len, chunk_out, resp_chunks_, 0, out_);
  rec_.bytes_sent = o.bytes;
  bool upstream_keep = false;
  switch (o.status) {
    case RelayStatus::done:
      upstream_keep = upstream_keep_hint && kind != BodyKind::until_close && up_in_.empty();
      break;
    case RelayStatus::src_timeout:
    case RelayStatus::src_too_slow:
      rec_.proxy_status = "http_response_timeout";
      client_keep = false;
      break;
    case RelayStatus::src_closed:
    case RelayStatus::src_error:
      rec_.proxy_status = "http_response_incomplete";
      client_keep = false;
      break;
    case RelayStatus::framing_error:
      rec_.proxy_status = "http_response_transfer_coding";
      client_keep = false;
      break;
    case RelayStatus::dst_error:
    case RelayStatus::too_large:
      client_keep = false;
      break;
  }
  const bool backend_broke = o.status == RelayStatus::src_timeout ||
                            o.status == RelayStatus::src_closed || o.status == RelayStatus::src_error ||
                            o.status == RelayStatus::framing_error;
  if (backend_broke && !pump_status_ && !pump_client_gone_) {
    // (Not when the client broke its request: the pump then cancelled the
    // backend's read, and the backend is not to blame.)
    GH_WARN("backend %s: %.*s: response body cut after %llu bytes", b.name.c_str(),
            static_cast<int>(rec_.proxy_status.size()), rec_.proxy_status.data(),
            static_cast<unsigned long long>(o.bytes));
    if (o.status != RelayStatus::framing_error)
      upstream::record_failure(b, rr.backends.size() > 1, now_ms());
  }
  if (pump_running_) {
    co_await stop_pump();
    client_keep = false;
    upstream_keep = false;
  }
  if (pump_failed_) {
    client_keep = false;
    upstream_keep = false;
  }
  release_upstream(upstream_keep);
  if (!client_keep) closing_ = true;
  co_return client_keep;
}

}  // namespace gh::proxy
