// The response side of the forward path: the backend's head (interim
// responses passed on), switching protocols, intercepted errors, and the
// body relayed to the downstream with the backend connection kept or not.
#include <algorithm>

#include "core/log.h"
#include "proxy/body_http1.h"
#include "proxy/forward.h"
#include "proxy/websocket_accept.h"
#include "upstream/passive_health.h"

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

awaitable<bool> Forwarder::read_response_head(Failure& f) {
  const auto& srv = req_->rt->cfg.server;
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
      auto st = http1::parse_response(up_in_.view(), resp_, req_->is_head, lim, perr_);
      if (st == http1::ParseStatus::complete) {
        if (resp_.status < 200 && resp_.status != 101) {
          // Interim responses (100 Continue, 103 Early Hints) go on where the
          // client's protocol has them.
          const bool awaited = co_await down_->send_interim(resp_.status, resp_.headers);
          if (!awaited) {
            f = {0, "", ""};
            co_return false;
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

awaitable<bool> Forwarder::relay_response(const RouteRuntime& rr, upstream::Backend& b) {
  const auto& srv = req_->rt->cfg.server;
  Downstream& down = *down_;
  LogRecord& rec = *req_->rec;
  if (resp_.status == 101) {
    bool valid = !req_->upgrade.empty();
    const char* why = "backend switched protocols without an upgrade request";
    if (valid && http1::list_contains(req_->upgrade, "websocket") && !req_->ws_key.empty()) {
      std::string_view accept;
      for (const auto& h : resp_.headers)
        if (http1::iequals(h.name, "sec-websocket-accept")) accept = h.value;
      if (accept != websocket_accept(req_->ws_key)) {
        valid = false;
        why = "backend sent a wrong Sec-WebSocket-Accept";
      }
    }
    if (!valid) {
      if (pump_running_) co_await stop_pump();
      release(false);
      down.close_after_response();
      co_await down.send_error(502, "http_upgrade_failed", why, b.name);
      co_return false;
    }
    ResponseFraming fr;
    fr.length = ResponseFraming::Length::none;
    fr.switching = true;
    fr.upgrade = resp_.upgrade;
    FieldWriter& w = down.begin_response(101, resp_.reason, fr);
    write_response_fields(rr, b, w, down.keeps_length(), resp_.headers);
    http::BodySink& sink = down.end_response();
    up_in_.consume(resp_.head_size);
    rec.status = 101;
    http::BodyBatch none;
    none.end = true;
    const bool awaited = co_await sink.write(none);
    if (!awaited) {
      release(false);
      co_return false;
    }
    co_await down.tunnel(*up_, up_in_, up_dl_);
    release(false);
    co_return false;
  }

  if (req_->upgrade_required && resp_.status / 100 == 2) {
    if (pump_running_) co_await stop_pump();
    release(false);
    down.close_after_response();
    co_await down.send_error(502, "http_upgrade_failed",
                             "backend answered the upgrade without switching protocols", b.name);
    co_return false;
  }
  if (cx_.rule) {
    std::optional<uint64_t> len;
    if (resp_.body == BodyKind::content_length) len = resp_.content_length;
    if (cache_on_head(resp_.status, resp_.headers, len)) {
      // The stored response answers (revalidated by a 304, or stale on an
      // error): the backend's is dropped, its connection kept when nothing
      // of it is left to read.
      const bool drained = !pump_running_ && resp_.body == BodyKind::none;
      if (drained) up_in_.consume(resp_.head_size);
      release(drained && resp_.keep_alive() && up_in_.empty());
      co_return co_await serve_stored(rr, true);
    }
  }
  const policy::Pipeline& pipe = *req_->pipeline;
  if (resp_.status >= 400 && pipe.intercepts_errors() && pipe.error_page(resp_.status, true)) {
    // intercept_errors: the backend's own error goes out with our page as its
    // body. A body that already arrived whole (error bodies are small) is
    // dropped and the connection kept; anything else is not read: the
    // connection to the backend is closed instead.
    const bool had_pump = pump_running_;
    if (pump_running_) co_await stop_pump();
    if (had_pump || pump_failed_) down.close_after_response();
    const size_t whole = resp_.head_size + static_cast<size_t>(resp_.content_length);
    const bool drained = !had_pump && !pump_failed_ &&
                         (resp_.body == BodyKind::none ||
                          (resp_.body == BodyKind::content_length && up_in_.size() == whole));
    if (drained) up_in_.clear();
    release(drained && resp_.keep_alive());
    co_await down.send_intercepted(resp_.status);
    co_return down.keeps_connection();
  }

  const BodyKind kind = resp_.body;
  ResponseFraming fr;
  fr.length = kind == BodyKind::none             ? ResponseFraming::Length::none
              : kind == BodyKind::content_length ? ResponseFraming::Length::known
                                                 : ResponseFraming::Length::unknown;
  fr.request_unfinished = pump_running_;
  if (resp_.te_other_codings) {
    // Every Transfer-Encoding line, in order (one list, RFC 9110 5.3).
    te_restated_.clear();
    for (const auto& h : resp_.headers) {
      if (!http1::iequals(h.name, "transfer-encoding")) continue;
      if (!te_restated_.empty()) te_restated_ += ", ";
      te_restated_ += h.value;
    }
    // The body goes on chunked: when the backend's last coding was another
    // (a body delimited by close), chunked now comes after it.
    if (kind == BodyKind::until_close) te_restated_ += ", chunked";
    fr.te_other_codings = te_restated_;
  }
  std::optional<uint64_t> length;
  if (kind == BodyKind::content_length) length = resp_.content_length;
  http::BodySink& sink =
      begin_downstream_response(rr, b, resp_.status, resp_.reason, fr, resp_.headers, length);
  up_in_.consume(resp_.head_size);
  rec.status = resp_.status;
  resp_chunks_.reset();
  const bool upstream_keep_hint = resp_.keep_alive();
  Http1BodySource src(up_->stream, up_in_, up_dl_, srv.timeouts.upstream_response, kind,
                      kind == BodyKind::content_length ? resp_.content_length : 0, resp_chunks_);
  // (Plain TCP both sides, nothing transforming a large body: splice(2).)
  http::RelayOutcome o = co_await relay_body_maybe_spliced(src, sink, 0, ws_.streams.pipes);
  rec.bytes_sent = end_downstream_body(o);
  bool client_keep = note_relay_outcome(o, b, rr.backends.size());
  const bool upstream_keep_ok = o.status == http::RelayStatus::done;
  bool upstream_keep =
      upstream_keep_ok && upstream_keep_hint && kind != BodyKind::until_close && up_in_.empty();
  if (pump_running_) {
    co_await stop_pump();
    client_keep = false;
    upstream_keep = false;
  }
  if (pump_failed_) {
    client_keep = false;
    upstream_keep = false;
  }
  release(upstream_keep);
  if (!client_keep) down.close_after_response();
  co_return down.keeps_connection();
}

http::BodySink& Forwarder::begin_downstream_response(const RouteRuntime& rr,
                                                     const upstream::Backend& b, int status,
                                                     std::string_view reason, ResponseFraming fr,
                                                     std::span<const http::Field> fields,
                                                     std::optional<uint64_t> length) {
  Downstream& down = *down_;
  coder_.reset();
  policy::CompressChoice coded;
  std::unique_ptr<coding::Encoder> enc;
  if (const policy::CompressRule* rule = req_->pipeline->compress();
      rule && (fr.length != ResponseFraming::Length::none || req_->is_head) && !fr.switching &&
      fr.te_other_codings.empty()) {
    coded = rule->choose(req_->is_head, status, req_->head->fields, fields, length);
    if (coded.coding != coding::Coding::identity) {
      enc = coding::take_encoder(coded.coding);
      if (!enc) coded.coding = coding::Coding::identity;   // (no memory for it: sent as it is)
    }
  }
  if (enc) fr.length = ResponseFraming::Length::unknown;
  FieldWriter& w = down.begin_response(status, reason, fr);
  write_response_fields(rr, b, w, down.keeps_length(), fields, coded);
  http::BodySink* sink = &down.end_response();
  if (enc) {
    coder_.emplace(*sink, std::move(enc));
    sink = &*coder_;
  }
  if (cx_.storing) {
    // (Before the coding: the store keeps the backend's representation.)
    tee_.emplace(*sink, cx_, cx_.rule->max_object());
    sink = &*tee_;
  }
  return *sink;
}

uint64_t Forwarder::end_downstream_body(const http::RelayOutcome& o) {
  if (cx_.rule) {
    cache_commit(o);
    tee_.reset();
  }
  if (!coder_) return o.bytes;
  const uint64_t n = coder_->bytes_out();
  coder_.reset();
  return n;
}

}  // namespace gh::proxy
