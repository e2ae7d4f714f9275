// The forward path over HTTP/2 to the backends (route upstream_protocol:
// http2): the same backend pick, retry rule, field rules and downstream as
// HTTP/1, with the request as a stream on the worker's shared connection to
// the backend (h2_upstream.h). gRPC needs this: trailers both ways, streams
// that send and receive at once.
#include <array>
#include <utility>
#include <vector>

#include "core/log.h"
#include "proxy/forward.h"
#include "proxy/retry.h"
#include "upstream/passive_health.h"

namespace gh::proxy {

using namespace gh::net;

namespace {


struct Collected final : FieldWriter {
  std::vector<std::pair<std::string, std::string>> fields;
  void add(std::string_view name, std::string_view value) override { fields.emplace_back(name, value); }
};

}  // namespace

awaitable<bool> Forwarder::wait_h2_head(H2UpStream& st, Failure& f) {
  const auto timeout = req_->rt->cfg.server.timeouts.upstream_response;
  for (;;) {
    if (pump_status_ || pump_client_gone_ || client_gone_) {
      f = {0, "", ""};   // the request broke on the client side; the caller answers
      co_return false;
    }
    if (st.has_interim) {
      st.has_interim = false;
      const bool awaited = co_await down_->send_interim(st.interim.status, st.interim.fields());
      if (!awaited) {
        f = {0, "", ""};
        co_return false;
      }
    }
    if (st.head) co_return true;
    if (st.closed) {
      if (st.error == http2::kRefusedStream) f = {502, "connection_refused", "backend refused the stream"};
      else if (st.error == kNotHttp2)
        f = {502, "http_protocol_error",
             "backend does not speak HTTP/2 (it answered in HTTP/1; see the route's upstream_protocol)"};
      else f = {502, "connection_terminated",
                "backend ended the stream before responding (HTTP/2 error " +
                    std::to_string(st.error) + ")"};
      co_return false;
    }
    const bool awaited = co_await st.wake.wait(timeout);
    if (!awaited) {
      // The backend cannot be blamed while the client still sends the body.
      if (pump_running_ && pump_waiting_client_) continue;
      f = {504, "http_response_timeout", "no response within timeouts.upstream_response"};
      co_return false;
    }
  }
}

awaitable<bool> Forwarder::forward_h2(const RouteRuntime& rr) {
  ForwardRequest& req = *req_;
  Downstream& down = *down_;
  const config::Route& route = *rr.conf;
  const auto& srv = req.rt->cfg.server;
  upstream::Balancer* bal = ws_.balancer(req.route_index);
  const RequestBody& body = req.body;
  const bool streamed = body.kind == RequestBody::Kind::stream;
  const bool body_whole = !streamed;
  method_.assign(req.head->method);
  target_.clear();
  append_upstream_target(rr, target_);
  // The fields do not depend on the backend: made once, copied (the
  // request head may be released while the body streams).
  Collected collected;
  write_upstream_fields(collected);
  // TE is hop-by-hop, but "TE: trailers" is the one value HTTP/2 carries
  // (RFC 9113 8.2.2), and gRPC servers require it: it goes on when the
  // client said it accepts trailers.
  for (const auto& f : req.head->fields)
    if (http::iequals(f.name, "te") && http1::list_contains(f.value, "trailers")) {
      collected.add("te", "trailers");
      break;
    }
  std::vector<http::Field> fields;
  fields.reserve(collected.fields.size());
  for (const auto& [n, v] : collected.fields) fields.push_back(http::Field{n, v});

  Tries tries;
  Failure& last = tries.failure;
  begin_tries();
  bool body_started = false;   // a streamed body's bytes have begun to flow (not replayable)

  for (unsigned attempt = 0; attempt <= route.retries; ++attempt) {
    upstream::Backend* b = tries.pick(*bal, req.client_hash);
    if (!b) break;
    backend_ = b;
    if (attempt > 0) ws_.metrics.retry(rr.stats_slot);
    const bool may_eject = rr.backends.size() > 1;

    std::shared_ptr<H2UpConn> conn;
    if (auto it = ws_.h2_upstreams.find(b); it != ws_.h2_upstreams.end() && it->second->usable())
      conn = it->second;
    if (!conn) {
      Failure f = co_await connect(rr, b);
      if (f.status && client_gone_) {
        req.rec->status = 499;
        release(false);
        down.close_after_response();
        co_return false;
      }
      if (f.status) {
        last = f;
        upstream::record_failure(*b, may_eject, now_ms());
        GH_WARN("backend %s: %s%s%s", b->name.c_str(), f.error, f.details.empty() ? "" : ": ",
                f.details.c_str());
        continue;
      }
      conn = std::make_shared<H2UpConn>(ex_, ws_.worker.deadlines, b, std::move(up_->stream),
                                        srv.timeouts.upstream_response);
      up_.reset();
      conn->start();
      if (auto& slot = ws_.h2_upstreams[b]) slot->close();
      ws_.h2_upstreams[b] = conn;
    }
    std::string authority_tmp;
    const std::string_view authority = upstream_authority(rr, *b, authority_tmp);
    http2::ClientConnection::Request r;
    r.method = method_;
    r.scheme = rr.backend_scheme;
    r.authority = authority;
    r.path = target_;
    r.fields = fields;
    H2UpStream st(ex_);
    InFlight in_flight(b);
    const int64_t upstream_start_us = now_us();
    if (conn->open(r, body.kind == RequestBody::Kind::none, &st) < 0) {
      last = {502, "connection_refused", "backend takes no new HTTP/2 stream now"};
      conn->close();
      continue;   // nothing was sent
    }
    H2UpSink sink(*conn, st, srv.timeouts.upstream_response);
    h2_sink_ = &sink;
    pump_wrote_ = false;
    if (body.kind == RequestBody::Kind::whole) {
      http::BodyBatch bb;
      if (body.whole_chunked) {
        // Held chunk-coded for HTTP/1 (it has trailers): decoded again here.
        http1::ChunkedDecoder dec;
        std::string_view rest = body.whole;
        for (;;) {
          auto step = dec.next(rest);
          if (step.error || bb.full()) break;
          bb.add(step.data);
          rest.remove_prefix(step.consumed);
          if (step.done || step.consumed == 0) break;
        }
        trailer_copy_ = dec.trailers();
        bb.trailers = trailer_copy_;
      } else {
        bb.add(body.whole);
      }
      bb.end = true;
      co_await sink.write(bb);
    } else if (streamed && !body_started) {
      body_started = true;
      pump_running_ = true;
      pump_failed_ = false;
      asio::co_spawn(ex_, pump_request_body(sink), [this](std::exception_ptr) {
        pump_running_ = false;
        if (pump_waiter_) pump_waiter_->cancel();
      });
    }
    Failure f;
    h2_stream_ = &st;
    if (!pump_running_) down.watch_client(true);   // as in forward_upstream
    const bool ok = co_await wait_h2_head(st, f);
    down.watch_client(false);
    h2_stream_ = nullptr;
    if (!ok) {
      if (pump_running_) co_await stop_pump();
      h2_sink_ = nullptr;
      conn->forget(st);
      if (pump_status_) {
        down.close_after_response();
        co_await down.send_error(pump_status_, "http_request_error", pump_detail_, {});
        co_return false;
      }
      if (pump_client_gone_ || f.status == 0 || client_gone_) {
        req.rec->status = 499;
        req.body_read = true;
        down.close_after_response();
        co_return false;
      }
      TryProgress progress = TryProgress::sent;
      if (st.closed && st.error == http2::kRefusedStream) progress = TryProgress::not_sent;
      else if (streamed && !pump_wrote_) progress = TryProgress::head_only;
      // A streamed body that began to flow cannot be sent again.
      const bool again = may_retry(progress, method_, body_whole) && !(streamed && pump_wrote_);
      last = f;
      if (is_connection_failure(f)) upstream::record_failure(*b, may_eject, now_ms());
      GH_WARN("backend %s: %s%s%s%s", b->name.c_str(), f.error, f.details.empty() ? "" : ": ",
              f.details.c_str(), again ? "" : " (not retried: the request may have been applied)");
      if (!again) break;
      if (streamed) body_started = false;   // head-only: the pump starts again on the next stream
      continue;
    }
    upstream::record_success(*b);
    if (body_whole) down.request_delivered();
    req.rec->upstream_ms = double(now_us() - upstream_start_us) / 1000.0;
    req.rec->upstream_status = st.response.status;
    const bool keep = co_await relay_h2_response(rr, *b, *conn, st);
    h2_sink_ = nullptr;
    co_return keep;
  }
  h2_sink_ = nullptr;
  if (body_whole) down.request_delivered();
  else down.close_after_response();
  std::string_view hop;
  if (tries.last) hop = tries.last->name;
  if (cx_.rule) co_return co_await cache_failed(last, hop);
  co_await down.send_error(last.status, last.error, last.details, hop);
  co_return down.keeps_connection();
}

awaitable<bool> Forwarder::relay_h2_response(const RouteRuntime& rr, upstream::Backend& b,
                                             H2UpConn& conn, H2UpStream& st) {
  const auto& srv = req_->rt->cfg.server;
  Downstream& down = *down_;
  LogRecord& rec = *req_->rec;
  const http2::HeaderBlock& resp = st.response;
  const int status = resp.status;
  if (cx_.rule && cache_on_head(status, resp.fields(), resp.content_length)) {
    conn.forget(st);   // (the stored response answers instead)
    co_return co_await serve_stored(rr, true);
  }
  const policy::Pipeline& pipe = *req_->pipeline;
  if (status >= 400 && pipe.intercepts_errors() && pipe.error_page(status, true)) {
    const bool had_pump = pump_running_;
    if (pump_running_) co_await stop_pump();
    if (had_pump || pump_failed_) down.close_after_response();
    conn.forget(st);
    co_await down.send_intercepted(status);
    co_return down.keeps_connection();
  }
  ResponseFraming fr;
  if (req_->is_head || status == 204 || status == 304) fr.length = ResponseFraming::Length::none;
  else if (resp.content_length) fr.length = ResponseFraming::Length::known;
  else fr.length = ResponseFraming::Length::unknown;
  fr.request_unfinished = pump_running_;
  http::BodySink& sink =
      begin_downstream_response(rr, b, status, {}, fr, resp.fields(), resp.content_length);
  rec.status = status;
  H2UpSource src(conn, st, srv.timeouts.upstream_response);
  h2_source_ = &src;
  http::RelayOutcome o = co_await http::relay_body(src, sink, 0);
  h2_source_ = nullptr;
  rec.bytes_sent = end_downstream_body(o);
  bool client_keep = note_relay_outcome(o, b, rr.backends.size());
  if (pump_running_) {
    // The response is complete while the request still streams (a gRPC
    // server may answer before the client finished): end the stream.
    co_await stop_pump();
  }
  if (pump_failed_) client_keep = false;
  conn.forget(st);
  if (!client_keep) down.close_after_response();
  co_return down.keeps_connection();
}

}  // namespace gh::proxy
