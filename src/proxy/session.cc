// The request loop of one HTTP/1 client connection: read a head, decide,
// forward, repeat while keep-alive lasts. Forwarding itself is forward.h's;
// the request body is in session_body.cc, responses in session_response.cc.
#include "proxy/session.h"

#include <sys/time.h>


#include "acme/http01_board.h"
#include "core/log.h"
#include "http/path.h"
#include "http/status.h"
#include "proxy/head_edits.h"
#include "proxy/intake.h"
#include "proxy/own_response.h"
#include "proxy/router.h"
#include "tls/ossl.h"
#include "tls/server_context.h"

namespace gh::proxy {

using namespace gh::net;

Session::Session(WorkerState& ws, Stream s, ClientInfo info)
    : ws_(ws),
      down_(std::move(s)),
      client_(std::move(info)),
      down_dl_(ws.worker.deadlines, &Session::on_down_deadline, this),
      fwd_(ws, down_.socket().get_executor()) {
  client_hash_ = core::is_v4_mapped(client_.ip)
                     ? upstream::hash_client_address(std::span(client_.ip).subspan(12))
                     : upstream::hash_client_address(client_.ip);
  ++ws_.active_sessions;
  ws_.note_heavy();
  next_session = ws_.sessions;
  if (next_session) next_session->prev_session = this;
  ws_.sessions = this;
}

Session::~Session() {
  --ws_.active_sessions;
  if (prev_session) prev_session->next_session = next_session;
  else ws_.sessions = next_session;
  if (next_session) next_session->prev_session = prev_session;
}

void Session::on_down_deadline(void* self) {
  auto* s = static_cast<Session*>(self);
  if (s->watch_due_) {
    // The backend is slow to answer: watch the client from now (watch_client).
    s->watch_due_ = false;
    s->down_dl_.clear_fired();
    s->client_watch_.start(s->down_.socket(), &Session::on_client_closed, s);
    return;
  }
  if (s->idle_ && now_ms() < s->idle_until_ms_) {
    s->down_dl_.clear_fired();
    if (!s->down_.quiet()) {
      // TLS, part of a record here: the socket's readiness would not tell
      // when the rest comes. Wait on in the session until the timeout.
      s->down_dl_.expire_at(s->idle_until_ms_);
      return;
    }
    // Idle for a while but not timed out: park (see read_request_head).
    s->parking_ = true;
  }
  s->down_.cancel();
}

// Draining: a request in progress is answered with Connection: close. An
// idle keep-alive connection is not closed at once: its client may be
// sending the next request right now, and closing would fail it. It gets
// WorkerState::kDrainIdleMs to send one (answered with Connection: close);
// a connection that stays idle that long is closed (the idle deadline, see
// on_down_deadline).
void Session::on_drain() {
  // Mid-request: the response's head says close if it is not written yet
  // (begin_response and send_own look at the worker's drain flag); one
  // already written with keep-alive lets the client send another request,
  // which read_request_head waits for with the same grace.
  if (!idle_ || drain_seen_) return;
  closing_ = true;
  drain_seen_ = true;
  idle_until_ms_ = std::min(idle_until_ms_, now_ms() + WorkerState::kDrainIdleMs);
  const int64_t at = down_dl_.at_ms();
  if (at == 0 || at > idle_until_ms_) down_dl_.expire_at(idle_until_ms_);
}

// The connection preface of HTTP/2 with prior knowledge (RFC 9113 3.3, 3.4).
static constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Session::take_input() {
  std::string bytes(in_.view());
  in_.clear();
  return bytes;
}

awaitable<Session::RunEnd> Session::run() {
  if (!down_.handshake_done()) {
    // The handshake counts against the head timeout: a client that opens a
    // connection and stalls is dropped just like a slow head.
    rt_ = ws_.runtime();
    down_dl_.expire_in(rt_->cfg.server.timeouts.client_header);
    error_code ec = co_await down_.handshake();
    if (ec) {
      ws_.metrics.tls_handshake_errors.add();
      down_.close();
      co_return RunEnd::closed;
    }
    // Once per connection, for the log (a static string of OpenSSL's).
    client_.tls_version = SSL_get_version(down_.ssl());
    ws_.metrics.tls_handshake(SSL_version(down_.ssl()), SSL_session_reused(down_.ssl()) == 1);
    if (tls::alpn_is_h2(down_.ssl())) {
      down_dl_.clear();
      co_return RunEnd::http2;
    }
    if (tls::ServerContext::alpn_selected(down_.ssl()) == "acme-tls/1") {
      // A tls-alpn-01 validation (RFC 8737 3): the handshake was the answer.
      down_.close();
      co_return RunEnd::closed;
    }
    if (ws_.worker.connections > kManyConnections && down_.quiet() &&
        !ws_.worker.draining.load(std::memory_order_relaxed)) {
      // Many connections open: like a new plain connection (serve.cc), wait
      // parked for the first request, still within the head timeout.
      idle_until_ms_ = down_dl_.at_ms() ? down_dl_.at_ms() : now_ms();
      down_dl_.clear();
      co_return RunEnd::park;
    }
  }
  for (;;) {
    HeadResult hr = co_await read_request_head();
    if (hr == HeadResult::park) {
      fwd_.release(false);
      co_return RunEnd::park;
    }
    if (hr == HeadResult::http2) {
      down_dl_.clear();
      co_return RunEnd::http2;
    }
    if (hr == HeadResult::closed) break;
    if (hr == HeadResult::answered) {
      finish_log();
      break;
    }
    bool keep = co_await handle_request();
    finish_log();
    // (Draining, a response that said keep-alive is not followed by a close
    // at once: see on_drain.)
    if (!keep || closing_) break;
  }
  fwd_.release(false);
  if (body_unread_) co_await linger_close();
  down_.close();
  co_return RunEnd::closed;
}

// A client still sending a body we will not read would get a reset when we
// close, and a reset makes its TCP stack drop our unread response. So: send
// our FIN after the response, then read and discard what the client still
// sends for a bounded time (nginx's lingering close), then close.
awaitable<void> Session::linger_close() {
  constexpr int64_t kLingerMs = 5000;       // whole lingering time
  constexpr int64_t kLingerIdleMs = 1000;   // a quiet client is not waited for longer
  body_unread_ = false;
  down_.shutdown_send();
  in_.clear();
  const int64_t until = now_ms() + kLingerMs;
  for (;;) {
    int64_t now = now_ms();
    if (now >= until) break;
    down_dl_.clear_fired();
    down_dl_.expire_at(std::min(until, now + kLingerIdleMs));
    in_.reserve_tail(core::Buffer::kBlock);
    auto [ec, n] = co_await down_.read_some(asio::buffer(in_.tail(), in_.tail_room()));
    if (ec || n == 0) break;
  }
  in_.clear();
}

awaitable<Session::HeadResult> Session::read_request_head() {
  rt_ = ws_.runtime();
  // Nothing of this request has been answered or routed yet.
  response_started_ = false;
  route_ = nullptr;
  backend_ = nullptr;
  pipe_ = rt_->server_pipeline.get();
  ex_.reset();
  const auto& srv = rt_->cfg.server;
  http1::Limits lim;
  lim.max_head = srv.limits.max_header_bytes;
  bool first = rec_.status == 0 && start_us_ == 0;
  down_dl_.clear_fired();
  if (in_.empty()) {
    idle_ = true;
    idle_until_ms_ = now_ms() + (first ? srv.timeouts.client_header : srv.timeouts.keepalive).count();
    if (ws_.worker.draining.load(std::memory_order_relaxed)) {
      // Draining (see on_drain): a short last wait; the response to a
      // request that comes says Connection: close (begin_response).
      idle_until_ms_ = std::min(idle_until_ms_, now_ms() + WorkerState::kDrainIdleMs);
      drain_seen_ = true;
    }
    // Wake up after a short idle time to park the connection without
    // buffers; with many connections open, park at once (memory matters
    // more than the one epoll_ctl a park costs).
    if (!down_.quiet()) {
      // TLS holding bytes the socket no longer shows: read them, never park
      // on the socket's readiness.
      down_dl_.expire_at(idle_until_ms_);
    } else if (!first && ws_.worker.connections > kManyConnections &&
               !ws_.worker.draining.load(std::memory_order_relaxed)) {
      // Many connections open: memory matters more than the epoll_ctl and
      // the fresh session a park costs, so park right away.
      co_return HeadResult::park;
    } else {
      down_dl_.expire_at(std::min(idle_until_ms_, now_ms() + kParkAfterMs));
    }
  } else {
    down_dl_.expire_in(srv.timeouts.client_header);
  }
  // Prior knowledge (plain listeners only; TLS decides by ALPN): a new
  // connection whose first bytes are the HTTP/2 preface is HTTP/2.
  const bool may_be_h2 = first && !client_.served && !client_.tls && srv.http2;
  for (;;) {
    bool preface_prefix = false;
    if (may_be_h2 && !in_.empty()) {
      std::string_view v = in_.view();
      const size_t n = std::min(v.size(), kH2Preface.size());
      if (v.substr(0, n) == kH2Preface.substr(0, n)) {
        if (n == kH2Preface.size()) {
          idle_ = false;
          co_return HeadResult::http2;
        }
        preface_prefix = true;   // read on: the rest decides
      }
    }
    if (!in_.empty() && !preface_prefix) {
      auto st = http1::parse_request(in_.view(), req_, lim, perr_);
      if (st == http1::ParseStatus::complete) {
        idle_ = false;
        co_return HeadResult::ok;
      }
      if (st == http1::ParseStatus::error) {
        idle_ = false;
        begin_unparsed_exchange();
        co_await send_error(perr_.status, "http_request_error", perr_.detail);
        co_return HeadResult::answered;
      }
    }
    if (closing_ && in_.empty()) co_return HeadResult::closed;
    auto [ec, n] = co_await down_.read_some_into(in_, 2048, in_.size() < 8192 ? 8192 : in_.size());
    if (parking_) {
      // A keep-alive connection idle for a while leaves the coroutine and
      // its buffers behind (see park.h), so idle clients cost little memory.
      // Busy connections never get here: they read with a buffer directly.
      parking_ = false;
      if (!ec && n > 0) {
        in_.commit(n);
        idle_ = false;
        down_dl_.expire_in(srv.timeouts.client_header);
        continue;
      }
      if (in_.empty() && !closing_ && !ws_.worker.draining.load(std::memory_order_relaxed))
        co_return HeadResult::park;
    }
    if (ec || n == 0) {
      if (down_dl_.fired() && !in_.empty()) {
        begin_unparsed_exchange();
        co_await send_error(408, "http_request_error", "request head not received in time");
        co_return HeadResult::answered;
      }
      co_return HeadResult::closed;
    }
    if (in_.empty()) {
      // First byte of a new request: the head timeout starts now.
      idle_ = false;
      down_dl_.expire_in(srv.timeouts.client_header);
    }
    in_.commit(n);
  }
}

awaitable<bool> Session::handle_request() {
  start_us_ = now_us();
  rec_ = LogRecord{};
  rec_.start_unix_ms = unix_ms();
  rec_.client = client_.ip_str;
  rec_.version_minor = req_.version_minor;
  rec_.tls_version = client_.tls_version;
  route_ = nullptr;
  backend_ = nullptr;
  body_in_ = 0;
  response_started_ = false;
  body_unread_ = req_.body != http1::BodyKind::none;
  up_body_ = UpBody::as_received;
  sent_continue_ = false;

  // Copies for the log and the response side: the head's bytes are consumed
  // (and the buffer reused) before the response is written.
  m_method_.assign(req_.method);
  m_path_.assign(req_.target);
  m_host_.assign(req_.host);
  m_ua_.clear();
  m_referer_.clear();
  m_ws_key_.clear();
  for (const auto& h : req_.headers) {
    if (h.name.size() == 10 && http1::iequals(h.name, "user-agent")) m_ua_.assign(h.value);
    else if (h.name.size() == 7 && http1::iequals(h.name, "referer")) m_referer_.assign(h.value);
    else if (h.name.size() == 17 && http1::iequals(h.name, "sec-websocket-key"))
      m_ws_key_.assign(h.value);
  }
  pick_request_id(req_.headers, ws_, request_id_);
  trace_.read(req_.headers, rt_->cfg.server.traceparent == config::TraceparentMode::start,
              [this] { return ws_.rng(); });
  rec_.trace_id = trace_.trace_id();
  rec_.method = m_method_;
  rec_.path = m_path_;
  rec_.host = m_host_;
  rec_.user_agent = m_ua_;
  rec_.referer = m_referer_;
  rec_.request_id = request_id_;
  is_head_ = req_.method == "HEAD";
  client_minor_ = req_.version_minor;
  client_keep_alive_ = req_.keep_alive();

  const auto& cfg = rt_->cfg;
  if (via_hops(req_.headers) >= kMaxViaHops) {
    // A route pointing back at ourselves would otherwise loop until some
    // limit breaks: stop it with a name.
    closing_ = true;
    co_await send_error(508, "proxy_loop_detected", "request passed through gatehouse too many times");
    co_return false;
  }
  if (req_.method == "CONNECT") {
    closing_ = true;
    co_await send_error(405, "http_request_denied", "CONNECT is not supported by a reverse proxy");
    co_return false;
  }
  if (req_.expect_other) {
    closing_ = true;
    co_await send_error(417, "http_request_error", "unsupported expectation");
    co_return false;
  }
  if (!client_.tls && cfg.ssl.acme && (req_.method == "GET" || req_.method == "HEAD")) {
    // An http-01 validation (RFC 8555 8.3) comes before redirects, routes
    // and policies: the CA must reach it whatever the config does with
    // the path. Unknown tokens fall through to routing.
    if (std::optional<std::string> ka = acme::Http01Board::process().answer(req_.path)) {
      closing_ = !skip_request_body();
      make_plain(own_, nullptr, 200, *ka);
      co_await send_own({});
      co_return !closing_;
    }
  }
  bool asterisk = req_.target == "*";
  if (!client_.tls && cfg.ssl.enabled && cfg.ssl.redirect_http) {
    closing_ = !skip_request_body();
    co_await send_redirect(https_location(rt_->cfg, req_.host, req_.path, asterisk));
    co_return !closing_;
  }
  // Routing sees the normalized path; the backend gets the client's bytes.
  norm_path_.clear();
  if (!asterisk) {
    if (auto st = http::normalize_path(req_.path, norm_path_); st != http::PathStatus::ok) {
      closing_ = true;
      co_await send_error(400, "http_request_error", http::path_status_text(st));
      co_return false;
    }
  }
  int idx = rt_->router.match(req_.host, asterisk ? std::string_view("/") : std::string_view(norm_path_));
  if (idx < 0) {
    closing_ = !skip_request_body();
    co_await send_error(404, "destination_not_found", "no route matches this host and path");
    co_return !closing_;
  }
  const RouteRuntime& rr = rt_->routes[idx];
  route_ = rr.conf;
  rec_.route = route_->path;
  rec_.route_slot = rr.stats_slot;
  if (route_->redirect == config::Redirect::https && !client_.tls) {
    closing_ = !skip_request_body();
    co_await send_redirect(https_location(rt_->cfg, req_.host, req_.path, asterisk));
    co_return !closing_;
  }
  uint64_t max_body = cfg.server.limits.max_body_bytes;
  if (max_body && req_.body == http1::BodyKind::content_length && req_.content_length > max_body) {
    closing_ = true;
    co_await send_error(413, "http_request_error", "request body larger than limits.max_body_bytes");
    co_return false;
  }
  // The request phase of the route's policies (see policy/policy.h).
  pipe_ = rr.pipeline.get();
  fill_exchange();
  if (pipe_->acts_on_request()) {
    policy::Verdict v = co_await run_request_policies(*pipe_);
    rec_.note_by = ex_.noted_by;   // (the waf's rule ids, for a request without content)
    rec_.note = ex_.note;
    if (v == policy::Verdict::answered) {
      rec_.policy = ex_.refused_by;
      closing_ = !skip_request_body();
      co_await send_answer(*ex_.answer);
      co_return !closing_;
    }
  }
  co_return co_await forward(static_cast<size_t>(idx));
}

// The HTTP/1 head as the protocol-neutral exchange: views into in_, so this
// is repeated whenever the head's bytes move (reparse_head).
void Session::fill_exchange() {
  xreq_.method = req_.method;
  xreq_.scheme = client_.tls ? std::string_view("https") : std::string_view("http");
  xreq_.authority = req_.host;
  xreq_.path = req_.path;
  xreq_.normalized = req_.target == "*" ? std::string_view("*") : std::string_view(norm_path_);
  xreq_.fields = req_.headers;
  xreq_.version = 10 + client_minor_;
  xreq_.has_content = req_.body == http1::BodyKind::chunked ||
                      (req_.body == http1::BodyKind::content_length && req_.content_length > 0);
}

// Runs the request phase; the coroutine only waits when a policy suspends
// (a password check on the blocking pool), otherwise it returns at once.
awaitable<policy::Verdict> Session::run_request_policies(const policy::Pipeline& p) {
  eff_client_ = effective_client(client_.ip, client_.ip_str, req_.headers,
                                 rt_->cfg.server.trusted_proxies);
  ex_.request = &xreq_;
  ex_.client_ip = eff_client_.ip;
  ex_.client_ip_str = eff_client_.str;
  ex_.now_ms = now_ms();
  policy::Verdict v = p.run_request(ex_);
  if (v == policy::Verdict::suspend) v = co_await p.run_rest(ex_);
  co_return v;
}

// After answering without forwarding, the request's body must be skipped to
// reach the next request. Only a body already fully buffered is skipped;
// otherwise the connection closes. Consumes the head too.
bool Session::skip_request_body() {
  size_t head = req_.head_size;
  if (req_.body == http1::BodyKind::none) {
    in_.consume(head);
    return true;
  }
  if (req_.body == http1::BodyKind::content_length &&
      in_.size() - head >= req_.content_length) {
    in_.consume(head + req_.content_length);
    body_unread_ = false;
    return true;
  }
  return false;
}

// A head that never parsed (400) or never arrived whole (408) is answered
// and the connection closes; its log line starts afresh, carrying nothing
// of the connection's previous request (its body bytes, its backend). The
// client may still be sending (a trickled head, the rest of a bad one):
// the close lingers, or its reset could drop the answer.
void Session::begin_unparsed_exchange() {
  rec_ = LogRecord{};
  start_us_ = now_us();
  rec_.start_unix_ms = unix_ms();
  rec_.client = client_.ip_str;
  rec_.tls_version = client_.tls_version;
  request_id_.clear();
  route_ = nullptr;
  backend_ = nullptr;
  body_in_ = 0;
  closing_ = true;
  body_unread_ = true;
}

void Session::finish_log() {
  if (rec_.status == 0) return;
  rec_.duration_ms = double(now_us() - start_us_) / 1000.0;
  rec_.bytes_received = body_in_;
  if (backend_) {
    rec_.backend = backend_->name;
    rec_.backend_slot = backend_->stats_slot;
  }
  ws_.finish(rec_);
  rec_.status = 0;
}

awaitable<bool> Session::write_down(std::string_view a, std::string_view b) {
  std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                         asio::buffer(b.data(), b.size())};
  down_dl_.expire_in(rt_->cfg.server.timeouts.client_body);
  auto [ec, n] = co_await down_.write_all(bufs);
  co_return !ec;
}

awaitable<void> Session::send_error(int status, const char* error, std::string_view details,
                                    std::string_view next_hop) {
  co_await send_error_fields(status, error, details, next_hop, {});
}

awaitable<void> Session::send_error_fields(int status, const char* error, std::string_view details,
                                           std::string_view next_hop,
                                           std::span<const http::Field> extra) {
  rec_.proxy_status = error;
  if (response_started_) {
    // A response is already on its way: the only honest signal left is to
    // cut the connection so the client sees an incomplete message.
    rec_.status = status;
    closing_ = true;
    co_return;
  }
  make_error(own_, pipe_, status, error, details, next_hop);
  co_await send_own(extra);
}

// A policy's own answer (403, 401 ...): a proxy-made error with the policy's
// fields (WWW-Authenticate) and Proxy-Status naming the refusal.
awaitable<void> Session::send_answer(const policy::Answer& a) {
  std::vector<http::Field> extra;
  extra.reserve(a.fields.size());
  for (const auto& [name, value] : a.fields) extra.push_back(http::Field{name, value});
  if (a.body) {
    // Relayed as the auth service made it (forward_auth).
    rec_.proxy_status = a.error;
    make_relayed(own_, a);
    co_await send_own(extra);
    co_return;
  }
  co_await send_error_fields(a.status, a.error, a.details, {}, extra);
}

awaitable<void> Session::send_redirect(std::string_view location) {
  make_plain(own_, pipe_, 301, "301 Moved Permanently\n");
  const http::Field loc{"Location", location};
  co_await send_own(std::span(&loc, 1));
}

// own_ in HTTP/1.1: the status line, its fields (own_response.h), the
// connection fields and HSTS, the body (none for HEAD).
awaitable<void> Session::send_own(std::span<const http::Field> extra) {
  rec_.status = own_.status;
  out_.clear();
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(own_.status);
  out_ += ' ';
  out_ += http::reason_phrase(own_.status);
  out_ += "\r\n";
  lines_.out = &out_;
  const HeadEdits edits{pipe_->response_edits(), ex_.downstream};
  write_own_fields(lines_, own_, extra, request_id_, edits);
  if (ws_.worker.draining.load(std::memory_order_relaxed)) closing_ = true;
  if (closing_) out_ += "Connection: close\r\n";
  else if (client_minor_ == 0) out_ += "Connection: keep-alive\r\n";
  if (client_.tls) out_ += rt_->hsts_header;
  out_ += "\r\n";
  rec_.bytes_sent = own_.body.size();
  response_started_ = true;
  std::string_view payload;   // (no ?: inside co_await arguments: GCC 12 miscompiles it)
  if (!is_head_) payload = own_.body;
  co_await write_down(out_, payload);
}

}  // namespace gh::proxy
