// An HTTP/2 request stream through intake, routing, the policies and the
// forward path. The response side (HEADERS/DATA/trailers, own responses,
// gRPC answers, the tunnel) is in h2_stream_response.cc.
#include "proxy/h2_stream.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/log.h"
#include "http/path.h"
#include "proxy/h2_connection.h"
#include "proxy/intake.h"
#include "proxy/router.h"
#include "proxy/websocket_accept.h"

namespace gh::proxy {

using namespace gh::net;

H2Stream::H2Stream(H2Connection& c, int32_t id, http2::HeaderBlock head, bool end_stream)
    : c_(c),
      id_(id),
      head_(std::move(head)),
      fwd_(c.ws(), c.executor()),
      data_wake_(c.executor()),
      write_wake_(c.executor()),
      open_(c.ws().metrics.h2_streams) {
  body_end_ = end_stream;
  head_ended_stream_ = end_stream;
}

H2Stream::~H2Stream() = default;

namespace {
constexpr size_t kSpareStreams = 32;
struct SpareStreams {
  std::vector<void*> blocks;
  ~SpareStreams() {
    for (void* b : blocks) ::operator delete(b);
  }
};
thread_local SpareStreams spare_streams;
}  // namespace

void* H2Stream::operator new(size_t size) {
  auto& s = spare_streams.blocks;
  if (size == sizeof(H2Stream) && !s.empty()) {
    void* b = s.back();
    s.pop_back();
    return b;
  }
  return ::operator new(size);
}

void H2Stream::operator delete(void* p, size_t size) {
  auto& s = spare_streams.blocks;
  if (size == sizeof(H2Stream) && s.size() < kSpareStreams) {
    if (s.capacity() == 0) s.reserve(kSpareStreams);
    s.push_back(p);
    return;
  }
  ::operator delete(p);
}

void H2Stream::on_data(std::string_view bytes, bool end) {
  if (!bytes.empty()) {
    body_.append(bytes);   // never moves bytes a batch has lent
    body_in_ += bytes.size();
  }
  if (end) body_end_ = true;
  data_wake_.wake();
}

void H2Stream::on_trailers(http2::HeaderBlock trailers) {
  trailers_ = std::move(trailers);
  trailer_lines_.clear();
  FieldLines lines{&trailer_lines_};
  for (const auto& f : trailers_.fields()) lines.add(f.name, f.value);
  body_end_ = true;
  data_wake_.wake();
}

void H2Stream::on_closed(uint32_t error_code) {
  closed_ = true;
  close_code_ = error_code;
  if (error_code != 0 || (!ended_ && !end_held_)) {
    // Reset (by the client, even with NO_ERROR, or by the codec for its
    // errors) before our response ended: nobody waits for it any more.
    cut_ = true;
    fwd_.cancel();
    source_.cancel();
  }
  data_wake_.wake();
  write_wake_.wake();
}

void H2Stream::abort() {
  on_closed(0x8);   // CANCEL
}

// --- the request body as a BodySource ---------------------------------

http::RelayStatus H2Stream::Source::take(http::BodyBatch& b) {
  std::string_view lent = s_.body_.lend();
  b.add(lent);
  b.consumed = lent.size();
  if (s_.body_end_ && s_.body_.size() == lent.size()) {
    b.end = true;
    b.trailers = s_.trailer_lines_;
  }
  return http::RelayStatus::done;
}

void H2Stream::Source::consume(const http::BodyBatch& b) {
  s_.body_.give_back(b.consumed);
  // Bytes held for the body phase (hold_body_prefix) had their window back already.
  const size_t acked = std::min(b.consumed, s_.body_acked_);
  s_.body_acked_ -= acked;
  const size_t n = b.consumed - acked;
  if (n == 0) return;
  // The window comes back only now: a slow backend slows the client.
  s_.c_.codec().consume(s_.id_, n);
  s_.c_.kick();
}

awaitable<http::RelayStatus> H2Stream::Source::fill() {
  for (;;) {
    if (cancelled_) {
      detail_ = "cancelled";
      co_return http::RelayStatus::src_error;
    }
    if (!s_.body_.empty() || s_.body_end_) co_return http::RelayStatus::done;
    if (s_.closed_) {
      detail_ = "stream reset";
      co_return http::RelayStatus::src_closed;
    }
    bool by_rate = false;
    const std::chrono::milliseconds wait = rate.bound(timeout, by_rate);
    const int64_t waited_from = now_ms();
    const uint64_t had = s_.body_in_;
    if (waiting) *waiting = true;
    // (At least 1 ms: a zero wait would be no bound at all.)
    const bool woke = co_await s_.data_wake_.wait(std::max(wait, std::chrono::milliseconds(1)));
    if (waiting) *waiting = false;
    if (!woke) {
      detail_ = by_rate ? "slower than the minimum rate" : "timed out";
      co_return by_rate ? http::RelayStatus::src_too_slow : http::RelayStatus::src_timeout;
    }
    if (s_.body_in_ > had) rate.arrived(s_.body_in_ - had, now_ms() - waited_from);
  }
}

void H2Stream::Source::cancel() {
  cancelled_ = true;
  s_.data_wake_.wake();
}

// Waits until the request body ended or `want` bytes of it are here,
// giving their window back as they come (so the client never waits for a
// backend, and more than a stream's window may be wanted); they stay in
// body_. Over `limit` bytes: 413. False: the client reset the stream, sent
// too much or was too slow (answered).
awaitable<bool> H2Stream::await_body(uint64_t want, uint64_t limit) {
  const auto timeout = rt_->cfg.server.timeouts.client_body;
  for (;;) {
    if (body_.size() > body_acked_) {
      c_.codec().consume(id_, body_.size() - body_acked_);
      body_acked_ = body_.size();
      c_.kick();
    }
    if (body_end_ || body_.size() >= want) co_return true;
    if (closed_) co_return false;
    if (body_.size() > limit) {
      co_await send_error(413, "http_request_error", "request body larger than its Content-Length", {});
      co_return false;
    }
    const bool awaited = co_await data_wake_.wait(timeout);
    if (!awaited) {
      co_await send_error(408, "http_request_error", "request body not received in time", {});
      co_return false;
    }
  }
}

// Receives a body of known, small length whole before a backend is chosen
// (request buffering, as for HTTP/1).
awaitable<bool> H2Stream::receive_whole_body(uint64_t limit) {
  return await_body(std::numeric_limits<uint64_t>::max(), limit);
}

// The request body phase (policy.h) for a streamed body: its first `want`
// bytes (or all of it) held for the policies, then left in body_ for the
// source. 100-continue is answered here: the body is needed before any
// backend is asked.
awaitable<bool> H2Stream::hold_body_prefix(uint64_t want) {
  if (body_.empty() && !body_end_ && http::iequals(http::find_field(fields_, "expect"), "100-continue")) {
    c_.codec().submit_interim(id_, 100, {});
    c_.kick();
  }
  return await_body(want, std::numeric_limits<uint64_t>::max());
}

awaitable<void> H2Stream::serve() {
  co_await handle();
  finish_log();
  if (end_held_ && !closed_) {   // (cut_ may say only that the request was not all read)
    co_await discard_request_rest();
    if (!closed_) {
      c_.codec().submit_data(id_, {}, true);
      ended_ = true;
    }
  }
  if (!ended_ && !closed_) c_.codec().reset_stream(id_, cut_ ? 0x2 : 0x0);   // INTERNAL_ERROR / NO_ERROR
  body_.clear();
  c_.kick();
}

// A response complete before its request (an early 401, 413 or redirect of
// an upload): RFC 9113 8.1 lets the server end its side and reset the
// stream with NO_ERROR, but clients such as curl 7.88 (Debian 12) then fail
// the transfer (error 92) after receiving the whole response. So, as
// HTTP/1's lingering close does, the END_STREAM waits while the rest of the
// request body is read and dropped (its window given back), at most
// kLingerMs in all and kLingerIdleMs of silence; a client still sending
// after that gets the END_STREAM and then RST_STREAM NO_ERROR.
awaitable<void> H2Stream::discard_request_rest() {
  constexpr int64_t kLingerMs = 5000;
  constexpr int64_t kLingerIdleMs = 1000;
  const int64_t until = now_ms() + kLingerMs;
  for (;;) {
    if (body_.size() > body_acked_) {
      c_.codec().consume(id_, body_.size() - body_acked_);
      c_.kick();
    }
    body_.clear();
    body_acked_ = 0;
    if (body_end_ || closed_) break;
    const int64_t now = now_ms();
    if (now >= until) break;
    const bool woke = co_await data_wake_.wait(std::chrono::milliseconds(std::min(until - now, kLingerIdleMs)));
    if (!woke) break;
  }
}

awaitable<void> H2Stream::handle() {
  rt_ = c_.ws().runtime();
  const auto& cfg = rt_->cfg;
  const ClientInfo& client = c_.client();
  start_us_ = now_us();
  rec_ = LogRecord{};
  rec_.start_unix_ms = unix_ms();
  rec_.client = client.ip_str;
  rec_.http2 = true;
  rec_.tls_version = client.tls_version;
  pipe_ = rt_->server_pipeline.get();
  ex_.reset();

  // The exchange. An extended CONNECT for WebSocket (RFC 8441 4) goes to an
  // HTTP/1.1 backend as the GET upgrade it stands for, with a key we make.
  const bool ext_connect = head_.method == "CONNECT" && !head_.protocol.empty();
  const bool websocket = ext_connect && http::iequals(head_.protocol, "websocket");
  method_.assign(websocket ? std::string_view("GET") : head_.method);
  fields_.assign(head_.fields().begin(), head_.fields().end());
  if (websocket) {
    ws_key_ = websocket_key(c_.ws().rng(), c_.ws().rng());
    fields_.push_back(http::Field{"sec-websocket-key", ws_key_});
  }
  xreq_ = http::RequestHead{};
  xreq_.method = method_;
  xreq_.scheme = client.tls ? std::string_view("https") : std::string_view("http");
  xreq_.authority = head_.authority;
  xreq_.path = head_.path;
  xreq_.fields = fields_;
  xreq_.version = 20;
  xreq_.has_content = !head_ended_stream_ && !websocket;
  rec_.method = head_.method;
  rec_.path = head_.path;
  rec_.host = head_.authority;
  rec_.user_agent = http::find_field(fields_, "user-agent");
  rec_.referer = http::find_field(fields_, "referer");
  pick_request_id(fields_, c_.ws(), request_id_);
  rec_.request_id = request_id_;
  trace_.read(fields_, cfg.server.traceparent == config::TraceparentMode::start,
              [this] { return c_.ws().rng(); });
  rec_.trace_id = trace_.trace_id();
  grpc_ = is_grpc_request(fields_);

  if (via_hops(fields_) >= kMaxViaHops) {
    co_await send_error(508, "proxy_loop_detected", "request passed through gatehouse too many times", {});
    co_return;
  }
  if (head_.method == "CONNECT" && !websocket) {
    if (ext_connect) co_await send_error(501, "http_request_error", "only the websocket protocol can be tunnelled", {});
    else co_await send_error(405, "http_request_denied", "CONNECT is not supported by a reverse proxy", {});
    co_return;
  }
  const bool asterisk = head_.path == "*";
  if (!client.tls && cfg.ssl.enabled && cfg.ssl.redirect_http) {
    co_await send_redirect(https_location(cfg, head_.authority, head_.path, asterisk));
    co_return;
  }
  norm_path_.clear();
  if (!asterisk) {
    if (auto st = http::normalize_path(head_.path, norm_path_); st != http::PathStatus::ok) {
      co_await send_error(400, "http_request_error", http::path_status_text(st), {});
      co_return;
    }
  }
  xreq_.normalized = asterisk ? std::string_view("*") : std::string_view(norm_path_);
  const int idx = rt_->router.match(head_.authority, asterisk ? std::string_view("/") : std::string_view(norm_path_));
  if (idx < 0) {
    co_await send_error(404, "destination_not_found", "no route matches this host and path", {});
    co_return;
  }
  const RouteRuntime& rr = rt_->routes[idx];
  rec_.route = rr.conf->path;
  rec_.route_slot = rr.stats_slot;
  if (rr.conf->redirect == config::Redirect::https && !client.tls) {
    co_await send_redirect(https_location(cfg, head_.authority, head_.path, asterisk));
    co_return;
  }
  const uint64_t max_body = cfg.server.limits.max_body_bytes;
  if (max_body && head_.content_length && *head_.content_length > max_body) {
    co_await send_error(413, "http_request_error", "request body larger than limits.max_body_bytes", {});
    co_return;
  }
  pipe_ = rr.pipeline.get();
  if (pipe_->acts_on_request()) {
    eff_client_ = effective_client(client.ip, client.ip_str, fields_, cfg.server.trusted_proxies);
    ex_.request = &xreq_;
    ex_.client_ip = eff_client_.ip;
    ex_.client_ip_str = eff_client_.str;
    ex_.now_ms = now_ms();
    policy::Verdict v = pipe_->run_request(ex_);
    if (v == policy::Verdict::suspend) v = co_await pipe_->run_rest(ex_);
    rec_.note_by = ex_.noted_by;   // (the waf's rule ids, for a request without content)
    rec_.note = ex_.note;
    if (v == policy::Verdict::answered) {
      rec_.policy = ex_.refused_by;
      co_await send_answer(*ex_.answer);
      co_return;
    }
  }
  if (closed_) co_return;   // reset while the policies ran

  ForwardRequest& fr = freq_;
  fr = ForwardRequest{};
  fr.rt = rt_.get();
  fr.route_index = static_cast<size_t>(idx);
  fr.head = &xreq_;
  fr.client = &client;
  fr.pipeline = pipe_;
  fr.ex = &ex_;
  fr.client_host = head_.authority;
  fr.request_id = request_id_;
  fr.trace = &trace_;
  if (websocket) {
    fr.upgrade = "websocket";
    fr.ws_key = ws_key_;
    fr.upgrade_required = true;
  }
  fr.is_head = method_ == "HEAD";
  fr.client_hash = core::is_v4_mapped(client.ip)
                       ? upstream::hash_client_address(std::span(client.ip).subspan(12))
                       : upstream::hash_client_address(client.ip);
  fr.rec = &rec_;
  RequestBody& body = fr.body;
  const uint64_t buffer = cfg.server.limits.request_buffer;
  if (websocket || (body_end_ && body_.empty())) {
    body.kind = RequestBody::Kind::none;
  } else if (head_.content_length && buffer > 0 && *head_.content_length <= buffer) {
    // Received here whole: a client that waits for 100 (Continue) gets it
    // from us (RFC 9110 10.1.1), as over HTTP/1.
    if (body_.empty() && !body_end_ &&
        http::iequals(http::find_field(fields_, "expect"), "100-continue")) {
      c_.codec().submit_interim(id_, 100, {});
      c_.kick();
    }
    const bool awaited = co_await receive_whole_body(*head_.content_length);
    if (!awaited) co_return;
    body.kind = RequestBody::Kind::whole;
    if (!trailer_lines_.empty()) {
      // Trailers need chunked framing upstream: the whole body, coded.
      coded_.clear();
      char line[24];
      int n = std::snprintf(line, sizeof line, "%zx\r\n", body_.size());
      coded_.append(line, static_cast<size_t>(n));
      if (!body_.empty()) {
        coded_ += body_.view();
        coded_ += "\r\n0\r\n";
      }
      coded_ += trailer_lines_;
      coded_ += "\r\n";
      body.whole = coded_;
      body.whole_chunked = true;
    } else {
      body.whole = body_.view();
    }
    fr.body_in = body_.size();
  } else {
    body.kind = RequestBody::Kind::stream;
    body.length_known = head_.content_length.has_value();
    body.length = head_.content_length.value_or(0);
    source_.timeout = cfg.server.timeouts.client_body;
    source_.rate.set(cfg.server.limits.request_body_min_rate,
                     http::iequals(http::find_field(fields_, "expect"), "100-continue"));
    body.source = &source_;
  }
  if (const uint64_t want = pipe_->request_body_wanted(); want > 0) {
    // The request body phase: the body's first `want` bytes (policy.h).
    if (body.kind == RequestBody::Kind::stream) {
      const bool held = co_await hold_body_prefix(want);
      if (!held) co_return;
    }
    std::string_view seen;
    bool complete = true;
    if (body.kind != RequestBody::Kind::none) {
      seen = body_.view();
      complete = body_end_ && seen.size() == body_.size();
    }
    if (seen.size() > want) {
      seen = seen.substr(0, static_cast<size_t>(want));
      complete = false;
    }
    const policy::Verdict v = pipe_->run_request_body(ex_, seen, complete);
    rec_.note_by = ex_.noted_by;
    rec_.note = ex_.note;
    if (v == policy::Verdict::answered) {
      rec_.policy = ex_.refused_by;
      co_await send_answer(*ex_.answer);
      co_return;
    }
  }
  co_await fwd_.forward(fr, *this);
  rec_.bytes_received = body.kind == RequestBody::Kind::stream ? fr.body_in : body_in_;
}

void H2Stream::finish_log() {
  if (rec_.status == 0 || logged_) return;
  logged_ = true;
  rec_.duration_ms = double(now_us() - start_us_) / 1000.0;
  if (rec_.bytes_received == 0) rec_.bytes_received = body_in_;
  if (upstream::Backend* b = fwd_.backend()) {
    rec_.backend = b->name;
    rec_.backend_slot = b->stats_slot;
  }
  c_.ws().finish(rec_);
}

}  // namespace gh::proxy
