#include "proxy/h2_connection.h"

#include <algorithm>

#include "core/log.h"
#include "proxy/h2_stream.h"
#include "proxy/head_edits.h"
#include "proxy/intake.h"
#include "proxy/own_response.h"

namespace gh::proxy {

using namespace gh::net;


H2Connection::H2Connection(WorkerState& ws, Stream s, ClientInfo ci, ConnectionSlot slot)
    : ws_(ws),
      stream_(std::move(s)),
      client_(std::move(ci)),
      slot_(std::move(slot)),
      ex_(stream_.socket().get_executor()),
      dl_(ws.worker.deadlines, &H2Connection::on_deadline, this),
      write_wake_(ex_),
      streams_done_(ex_) {
  next = ws_.h2_connections;
  if (next) next->prev = this;
  ws_.h2_connections = this;
}

H2Connection::~H2Connection() {
  if (prev) prev->next = next;
  else ws_.h2_connections = next;
  if (next) next->prev = prev;
}

void H2Connection::on_deadline(void* self) {
  auto* c = static_cast<H2Connection*>(self);
  c->timed_out_ = true;
  c->stream_.cancel();
}

void H2Connection::on_drain() {
  if (!codec_) return;
  codec_->shutdown_graceful();
  kick();
  stop_when_drained();
}

// Draining, the connection ends once no request runs and the codec holds
// no stream: a response whose last DATA still waits for the client's
// window keeps its stream open in the codec, and the reader must go on
// taking the WINDOW_UPDATEs that let it out (the drain's end bounds it).
void H2Connection::stop_when_drained() {
  if (live_ != 0 || stopping_ || !codec_->idle()) return;
  if (!ws_.worker.draining.load(std::memory_order_relaxed)) return;
  stopping_ = true;
  stream_.cancel();
}

void H2Connection::abort() {
  stopping_ = true;
  write_failed_ = true;   // nothing more is written: the writer ends
  for (auto& [id, s] : streams_) s->abort();
  stream_.cancel();
  kick();
}

// With no stream open the connection may idle for the keep-alive time
// (the head timeout before its first request); while streams run, their
// own timeouts bound them.
void H2Connection::arm_idle_deadline() {
  if (live_ > 0) {
    dl_.clear();
    return;
  }
  const auto& t = rt_->cfg.server.timeouts;
  dl_.expire_in(served_any_ ? t.keepalive : t.client_header);
}

awaitable<void> H2Connection::run(std::string already) {
  rt_ = ws_.runtime();
  const auto& srv = rt_->cfg.server;
  http2::Limits lim;
  lim.max_concurrent_streams = srv.limits.h2_max_concurrent_streams;
  lim.max_header_list_bytes =
      static_cast<uint32_t>(std::min<uint64_t>(srv.limits.max_header_bytes, UINT32_MAX));
  codec_.emplace(lim);
  started_us_ = now_us();
  writer_running_ = true;
  asio::co_spawn(ex_, writer(), [this](std::exception_ptr) {
    writer_running_ = false;
    streams_done_.wake();
  });
  bool ok = true;
  if (!already.empty()) {
    ok = codec_->receive(already, static_cast<uint64_t>(now_ms()));
    dispatch_events();
    kick();
  }
  bool client_gone = false;
  arm_idle_deadline();
  while (ok && !stopping_) {
    auto [ec, n] = co_await stream_.read_some_into(in_, 2048, 16 * 1024);
    if (ec || n == 0) {
      client_gone = !timed_out_ && !stopping_;
      break;
    }
    in_.commit(n);
    ok = codec_->receive(in_.view(), static_cast<uint64_t>(now_ms()));
    dispatch_events();   // (data events point into in_: they are copied here)
    in_.clear();
    kick();
  }
  dl_.clear();
  if (!ok && !codec_->reason().empty())
    GH_WARN("http/2 client %s: %.*s", client_.ip_str.c_str(),
            static_cast<int>(codec_->reason().size()), codec_->reason().data());
  stopping_ = true;
  if (timed_out_ && live_ == 0) codec_->terminate(0, "idle");
  // Draining: the final GOAWAY now, without waiting for the PING's ACK.
  else if (ok && ws_.worker.draining.load(std::memory_order_relaxed)) codec_->shutdown_graceful();
  if (client_gone || !ok || timed_out_ || write_failed_)
    for (auto& [id, s] : streams_) s->abort();
  // Draining: streams still running finish first (their own timeouts bound them).
  while (live_ > 0) co_await streams_done_.wait();
  kick();
  // The writer flushes what is left (GOAWAY), bounded by the write timeout.
  while (writer_running_) co_await streams_done_.wait();
  in_.release_if_empty();
  stream_.close();
}

awaitable<void> H2Connection::writer() {
  const auto timeout = rt_->cfg.server.timeouts.client_body;
  for (;;) {
    if (write_failed_) break;   // (also: aborted at the end of the drain)
    dispatch_events();
    std::string_view out = codec_->pending_output();
    if (out.empty()) {
      if (write_failed_ || (stopping_ && live_ == 0)) break;
      co_await write_wake_.wait();
      continue;
    }
    // A copy: the codec's buffer may grow (and move) while this write waits.
    out_.assign(out);
    codec_->output_written(out_.size());
    dl_.expire_in(timeout);
    writing_ = true;
    auto [ec, n] = co_await stream_.write_all(asio::buffer(out_.data(), out_.size()));
    writing_ = false;
    arm_idle_deadline();
    if (ec) {
      write_failed_ = true;
      stopping_ = true;
      stream_.cancel();
      break;
    }
  }
  out_.clear();
  out_.shrink_to_fit();
}

void H2Connection::dispatch_events() {
  http2::Event ev;
  while (codec_->next_event(ev)) {
    auto it = streams_.find(ev.stream_id);
    H2Stream* s = it == streams_.end() ? nullptr : it->second.get();
    switch (ev.kind) {
      case http2::EventKind::request_head:
        start_stream(ev);
        break;
      case http2::EventKind::request_refused:
        refuse_head(ev.stream_id, ev.status);
        break;
      case http2::EventKind::request_data:
        if (s) s->on_data(ev.data, ev.end_stream);
        else codec_->consume(ev.stream_id, ev.data.size());
        break;
      case http2::EventKind::request_trailers:
        if (s) s->on_trailers(std::move(ev.head));
        break;
      case http2::EventKind::stream_closed:
        if (s) s->on_closed(ev.error_code);
        else stop_when_drained();   // a finished request's last frames are out
        break;
      case http2::EventKind::stream_writable:
        if (s) s->on_writable();
        break;
      default:
        break;
    }
  }
}

// A request head over limits.max_header_bytes (nothing of it was kept):
// answered like any proxy-made error, with the server-wide response rules.
void H2Connection::refuse_head(int32_t id, int status) {
  static const policy::FieldEdits kNoEdits;
  const policy::Pipeline* pipe = rt_->server_pipeline.get();
  OwnResponse own;
  make_error(own, pipe, status, "http_request_error",
             "request header section larger than limits.max_header_bytes", {});
  std::string rid;
  pick_request_id({}, ws_, rid);
  struct Fields final : FieldWriter {
    std::vector<std::pair<std::string, std::string>> v;
    void add(std::string_view n, std::string_view val) override { v.emplace_back(n, val); }
  } fields;
  write_own_fields(fields, own, {}, rid, HeadEdits{pipe->response_edits(), kNoEdits});
  std::vector<http::Field> views;
  for (const auto& [n, v] : fields.v) views.push_back(http::Field{n, v});
  if (!codec_->submit_response(id, status, views, own.body.empty())) return;
  if (!own.body.empty()) codec_->submit_data(id, own.body, true);
  GH_WARN("http/2 client %s: request head over limits.max_header_bytes refused (%d)",
          client_.ip_str.c_str(), status);
}

void H2Connection::start_stream(http2::Event& ev) {
  if (stopping_) {
    codec_->reset_stream(ev.stream_id, http2::kRefusedStream);
    return;
  }
  auto s = std::make_unique<H2Stream>(*this, ev.stream_id, std::move(ev.head), ev.end_stream);
  H2Stream* sp = s.get();
  const int32_t id = ev.stream_id;
  streams_[id] = std::move(s);
  ++live_;
  served_any_ = true;
  dl_.clear();
  // co_spawn starts the coroutine later, from the executor: never inside
  // this dispatch.
  asio::co_spawn(ex_, sp->serve(), [this, id](std::exception_ptr) { finish_stream(id); });
}

void H2Connection::finish_stream(int32_t id) {
  streams_.erase(id);
  --live_;
  if (live_ == 0) {
    if (ws_.worker.draining.load(std::memory_order_relaxed)) stop_when_drained();
    else if (!writing_) arm_idle_deadline();
  }
  streams_done_.wake();
  kick();
}

}  // namespace gh::proxy
