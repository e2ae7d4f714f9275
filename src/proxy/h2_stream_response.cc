// Responses on an HTTP/2 stream: interim and final heads, DATA under the
// peer's flow control, trailers, responses gatehouse makes itself (gRPC
// requests get gRPC's trailers-only form), and the tunnel of an RFC 8441
// WebSocket.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "http/status.h"
#include "net/inq_read.h"
#include "proxy/body_http1.h"
#include "proxy/h2_connection.h"
#include "proxy/h2_stream.h"
#include "proxy/h2_upstream.h"
#include "proxy/head_edits.h"

namespace gh::proxy {

using namespace gh::net;

namespace {

// gRPC's grpc-message is percent-encoded (gRPC over HTTP2, "Responses").
std::string grpc_message(std::string_view text) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

awaitable<bool> H2Stream::send_interim(int status, std::span<const http::Field> fields) {
  if (closed_) co_return false;
  c_.codec().submit_interim(id_, status, fields);
  c_.kick();
  co_return true;
}

void H2Stream::Collector::add(std::string_view name, std::string_view value) {
  if (at_.empty()) {
    bytes_.reserve(512);
    at_.reserve(16);
  }
  const auto at = static_cast<uint32_t>(bytes_.size());
  bytes_ += name;
  bytes_ += value;
  at_.push_back(At{at, static_cast<uint32_t>(name.size()), at + static_cast<uint32_t>(name.size()),
                   static_cast<uint32_t>(value.size())});
}

void H2Stream::Collector::erase(std::string_view name) {
  std::erase_if(at_, [&](const At& a) {
    return http::iequals(std::string_view(bytes_).substr(a.name, a.name_len), name);
  });
}

void H2Stream::Collector::views(std::vector<http::Field>& out) const {
  const std::string_view b = bytes_;
  for (const At& a : at_) out.push_back(http::Field{b.substr(a.name, a.name_len), b.substr(a.value, a.value_len)});
}

FieldWriter& H2Stream::begin_response(int status, std::string_view, const ResponseFraming& fr) {
  status_ = status;
  switching_ = fr.switching;
  collector_.clear();
  return collector_;
}

http::BodySink& H2Stream::end_response() {
  if (switching_) {
    // RFC 8441 5: the extended CONNECT is answered 200; the backend's 101
    // handshake fields mean nothing to the HTTP/2 client.
    collector_.erase("sec-websocket-accept");
  }
  return sink_;
}

// The response head, with HSTS on TLS connections.
bool H2Stream::submit_head(bool end_stream) {
  // (Scratch kept per thread: the codec copies the fields before returning.)
  thread_local std::vector<http::Field> fields;
  fields.clear();
  collector_.views(fields);
  if (c_.client().tls && !rt_->hsts_header.empty()) {
    http::Field hsts;
    if (split_field_lines(rt_->hsts_header, std::span(&hsts, 1)) == 1) fields.push_back(hsts);
  }
  const int status = switching_ ? 200 : status_;
  const bool held = end_stream && hold_end();
  if (closed_ || !c_.codec().submit_response(id_, status, fields, end_stream && !held)) {
    cut_ = true;
    return false;
  }
  head_sent_ = true;
  response_started_ = true;
  if (held) end_held_ = true;
  else if (end_stream) ended_ = true;
  c_.kick();
  return true;
}

// Body bytes under the peer's flow control: what the codec does not take
// now waits for the stream to become writable (at most timeouts.client_body).
awaitable<bool> H2Stream::send_data(std::string_view bytes) {
  const auto timeout = rt_->cfg.server.timeouts.client_body;
  while (!bytes.empty()) {
    if (closed_) co_return false;
    size_t n = c_.codec().submit_data(id_, bytes, false);
    bytes.remove_prefix(n);
    c_.kick();
    if (bytes.empty()) break;
    const bool awaited = co_await write_wake_.wait(timeout);
    if (!awaited) {
      cut_ = true;
      co_return false;
    }
  }
  co_return !closed_;
}

bool H2Stream::end_body(std::string_view trailer_lines) {
  if (closed_) return false;
  bool ok;
  if (!trailer_lines.empty()) {
    std::array<http::Field, 32> t;
    size_t n = split_field_lines(trailer_lines, t);
    ok = c_.codec().submit_trailers(id_, std::span(t.data(), n));
  } else if (hold_end()) {
    end_held_ = true;   // serve() ends the stream
    return true;
  } else {
    // An empty DATA frame with END_STREAM, queued after every byte.
    c_.codec().submit_data(id_, {}, true);
    ok = true;
  }
  if (ok) ended_ = true;
  c_.kick();
  return ok;
}

// Whether the response's END_STREAM waits for the request's end
// (discard_request_rest). Not for gRPC, whose status must not wait for a
// client still streaming (its clients take the reset), nor for trailers.
bool H2Stream::hold_end() {
  return !body_end_ && !closed_ && !grpc_ && !switching_;
}

awaitable<bool> H2Stream::Sink::write(const http::BodyBatch& b) {
  H2Stream& s = s_;
  if (!s.head_sent_) {
    const bool end_now = b.end && b.n == 0 && b.trailers.empty() && !s.switching_;
    if (!s.submit_head(end_now)) co_return false;
    if (end_now || s.switching_) co_return true;   // a 101 carries no body: the tunnel follows
  }
  for (size_t i = 0; i < b.n; ++i) {
    const bool awaited = co_await s.send_data(b.pieces[i]);
    if (!awaited) co_return false;
  }
  if (b.end) co_return s.end_body(b.trailers);
  co_return true;
}

awaitable<void> H2Stream::send_error(int status, const char* error, std::string_view details,
                                     std::string_view next_hop) {
  co_await send_error_fields(status, error, details, next_hop, {});
}

awaitable<void> H2Stream::send_error_fields(int status, const char* error, std::string_view details,
                                            std::string_view next_hop,
                                            std::span<const http::Field> extra) {
  rec_.proxy_status = error;
  if (response_started_) {
    // Too late for a status: the stream ends abnormally instead.
    rec_.status = status;
    cut_ = true;
    co_return;
  }
  make_error(own_, pipe_, status, error, details, next_hop);
  if (grpc_) {
    // gRPC clients read errors from grpc-status, not the HTTP status: a
    // trailers-only response (HEADERS with END_STREAM, status 200), with
    // Proxy-Status and the response rules as for any response of ours.
    const std::string code = std::to_string(grpc_status_for(status));
    const std::string message =
        grpc_message(own_.details.empty() ? std::string_view(own_.error) : own_.details);
    std::array<http::Field, 10> fields;
    size_t n = 0;
    fields[n++] = http::Field{"grpc-status", code};
    fields[n++] = http::Field{"grpc-message", message};
    for (const auto& f : extra)
      if (n < fields.size()) fields[n++] = f;
    own_.content_type = "application/grpc";
    own_.body = {};
    const HeadEdits edits{pipe_->response_edits(), ex_.downstream};
    collector_.clear();
    write_own_fields(collector_, own_, std::span(fields.data(), n), request_id_, edits);
    rec_.status = status;   // logged as what it stands for
    status_ = 200;
    switching_ = false;
    submit_head(true);
    co_return;
  }
  co_await send_own(extra);
}

awaitable<void> H2Stream::send_answer(const policy::Answer& a) {
  std::vector<http::Field> extra;
  extra.reserve(a.fields.size());
  for (const auto& [name, value] : a.fields) extra.push_back(http::Field{name, value});
  if (a.body && !grpc_) {
    // Relayed as the auth service made it (forward_auth).
    rec_.proxy_status = a.error;
    make_relayed(own_, a);
    co_await send_own(extra);
    co_return;
  }
  co_await send_error_fields(a.status, a.error, a.details, {}, extra);
}

awaitable<void> H2Stream::send_redirect(std::string location) {
  make_plain(own_, pipe_, 301, "301 Moved Permanently\n");
  const http::Field loc{"location", location};
  co_await send_own(std::span(&loc, 1));
}

awaitable<void> H2Stream::send_intercepted(int status) {
  make_plain(own_, pipe_, status, {}, true);
  co_await send_own({});
}

// own_ on this stream: its fields (own_response.h), then the body in DATA.
awaitable<void> H2Stream::send_own(std::span<const http::Field> extra) {
  rec_.status = own_.status;
  collector_.clear();
  const HeadEdits edits{pipe_->response_edits(), ex_.downstream};
  write_own_fields(collector_, own_, extra, request_id_, edits);
  status_ = own_.status;
  switching_ = false;
  const bool body = method_ != "HEAD" && !own_.body.empty();
  if (!submit_head(!body)) co_return;
  rec_.bytes_sent = own_.body.size();
  if (!body) co_return;
  const bool sent = co_await send_data(own_.body);
  if (sent) end_body({});
}

void H2Stream::request_delivered() {
  // The whole body went upstream (and its window came back as it arrived).
  body_.clear();
  body_acked_ = 0;
  std::string().swap(coded_);
}

// RFC 8441: the stream's DATA both ways is the WebSocket's byte stream.
// Either side ending (END_STREAM, a FIN) half-closes the other; a reset, an
// error or timeouts.tunnel_idle without traffic either way ends both.
awaitable<void> H2Stream::tunnel(upstream::UpConn& up, core::Buffer& up_in, Deadline& up_dl) {
  using namespace asio::experimental::awaitable_operators;
  finish_log();   // the request is done; the tunnel may last hours
  GaugeHold open(c_.ws().metrics.tunnels);
  last_activity_ms_ = now_ms();
  co_await (tunnel_up(up) && tunnel_down(up, up_in, up_dl));
  up_dl.clear();
}

awaitable<void> H2Stream::tunnel_up(upstream::UpConn& up) {
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  // A backend that stops reading for tunnel_idle ends the tunnel.
  Deadline dl(c_.ws().worker.deadlines, [](void* st) { static_cast<Stream*>(st)->cancel(); },
              &up.stream);
  Http1BodySink sink(up.stream, dl, idle, false);
  source_.timeout = idle;
  for (;;) {
    http::BodyBatch b;
    source_.take(b);
    if (b.n > 0) {
      const bool awaited = co_await sink.write(b);
      if (!awaited) break;
      last_activity_ms_ = now_ms();
    }
    source_.consume(b);
    if (b.end) {
      up.stream.shutdown_send();
      co_return;
    }
    http::RelayStatus st = co_await source_.fill();
    if (st == http::RelayStatus::src_timeout && now_ms() - last_activity_ms_ < idle.count()) continue;
    if (st != http::RelayStatus::done) break;
  }
  tunnel_broken_ = true;
  cut_ = true;
  up.stream.cancel();
}

awaitable<void> H2Stream::tunnel_down(upstream::UpConn& up, core::Buffer& up_in, Deadline& up_dl) {
  const auto idle = rt_->cfg.server.timeouts.tunnel_idle;
  // As the HTTP/1 tunnel (tunnel.cc): no read that finds nothing after one
  // that drained a plain backend socket.
  const bool inq = !up.stream.is_tls() && enable_read_inq(up.stream.socket());
  for (;;) {
    if (!up_in.empty()) {
      const bool awaited = co_await send_data(up_in.view());
      if (!awaited) break;
      up_in.clear();
      last_activity_ms_ = now_ms();
    }
    if (tunnel_broken_ || closed_) break;
    if (up_in.tail_room() < 4096) up_in.reserve_tail(16 * 1024);
    up_dl.clear_fired();
    up_dl.expire_in(idle);
    error_code ec;
    size_t n = 0;
    if (inq) {
      auto [e, k] = co_await async_read_some_inq(up.stream.socket(),
                                                 asio::buffer(up_in.tail(), up_in.tail_room()));
      ec = e;
      n = k;
    } else {
      auto [e, k] = co_await up.stream.read_some(asio::buffer(up_in.tail(), up_in.tail_room()));
      ec = e;
      n = k;
    }
    if (ec == asio::error::eof) {
      end_body({});
      co_return;
    }
    if (ec) {
      if (up_dl.fired() && !tunnel_broken_ && !closed_ &&
          now_ms() - last_activity_ms_ < idle.count())
        continue;   // quiet this way, busy the other
      break;
    }
    up_in.commit(n);
  }
  tunnel_broken_ = true;
  cut_ = true;
  source_.cancel();
}

}  // namespace gh::proxy
