#include "proxy/h2_upstream.h"

#include <cstring>

#include "core/log.h"
#include "proxy/downstream.h"

namespace gh::proxy {

using namespace gh::net;

namespace {
constexpr uint32_t kCancel = 0x8;   // RFC 9113 7
}

size_t split_field_lines(std::string_view lines, std::span<http::Field> out) {
  size_t n = 0;
  while (!lines.empty() && n < out.size()) {
    size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    out[n++] = http::Field{line.substr(0, colon), value};
  }
  return n;
}

H2UpConn::H2UpConn(Executor ex, DeadlineList& deadlines, upstream::Backend* b, Stream s,
                   std::chrono::milliseconds write_timeout)
    : ex_(ex),
      backend_(b),
      stream_(std::move(s)),
      write_timeout_(write_timeout),
      dl_(deadlines, &H2UpConn::on_deadline, this),
      write_wake_(ex) {}

H2UpConn::~H2UpConn() = default;

void H2UpConn::on_deadline(void* self) {
  // A backend that does not read what we write for the write timeout.
  static_cast<H2UpConn*>(self)->stream_.cancel();
}

void H2UpConn::start() {
  asio::co_spawn(ex_, reader(shared_from_this()), asio::detached);
  asio::co_spawn(ex_, writer(shared_from_this()), asio::detached);
}

bool H2UpConn::usable() const { return !dead_ && !draining_ && codec_.can_submit(); }

int32_t H2UpConn::open(const http2::ClientConnection::Request& r, bool end_stream, H2UpStream* s) {
  if (dead_) return -1;
  int32_t id = codec_.submit_request(r, end_stream);
  if (id < 0) return -1;
  s->id = id;
  streams_[id] = s;
  kick();
  return id;
}

void H2UpConn::forget(H2UpStream& s) {
  if (s.id < 0) return;
  streams_.erase(s.id);
  if (!s.closed && !dead_) codec_.reset_stream(s.id, kCancel);
  kick();
  s.id = -1;
}

// Graceful: no new streams; the ones running finish, then the connection
// ends (the writer sees it idle).
void H2UpConn::close() {
  if (dead_ || draining_) return;
  draining_ = true;
  codec_.shutdown_graceful();
  kick();
}

void H2UpConn::fail_all() {
  dead_ = true;
  for (auto& [id, s] : streams_) {
    if (!s->closed) {
      s->closed = true;
      s->error = not_h2_ ? kNotHttp2 : 0x2;   // INTERNAL_ERROR: the connection is gone
    }
    s->wake.wake();
    s->writable.wake();
  }
}

awaitable<void> H2UpConn::reader(std::shared_ptr<H2UpConn> self) {
  for (;;) {
    auto [ec, n] = co_await stream_.read_some_into(in_, 2048, 16 * 1024);
    if (ec || n == 0) break;
    in_.commit(n);
    if (!read_any_) {
      read_any_ = true;
      not_h2_ = in_.view().starts_with("HTTP/1.");
    }
    bool ok = codec_.receive(in_.view(), static_cast<uint64_t>(now_ms()));
    dispatch();   // (data views point into in_: copied here)
    in_.clear();
    kick();
    if (!ok) {
      if (!codec_.reason().empty())
        GH_WARN("backend %s: http/2: %.*s", backend_->name.c_str(),
                static_cast<int>(codec_.reason().size()), codec_.reason().data());
      break;
    }
  }
  fail_all();
  kick();
  in_.release_if_empty();
}

awaitable<void> H2UpConn::writer(std::shared_ptr<H2UpConn> self) {
  for (;;) {
    dispatch();
    std::string_view out = codec_.pending_output();
    if (out.empty()) {
      if (dead_ || (draining_ && streams_.empty())) break;
      co_await write_wake_.wait();
      continue;
    }
    out_.assign(out);   // the codec's buffer may move while the write waits
    codec_.output_written(out_.size());
    dl_.expire_in(write_timeout_);
    auto [ec, n] = co_await stream_.write_all(asio::buffer(out_.data(), out_.size()));
    dl_.clear();
    if (ec) break;
  }
  dead_ = true;
  stream_.cancel();
  stream_.close();
  fail_all();
}

void H2UpConn::dispatch() {
  http2::Event ev;
  while (codec_.next_event(ev)) {
    auto it = streams_.find(ev.stream_id);
    if (it == streams_.end()) {
      if (ev.kind == http2::EventKind::response_data) codec_.consume(ev.stream_id, ev.data.size());
      if (ev.kind == http2::EventKind::goaway) draining_ = true;   // no new streams here
      continue;
    }
    H2UpStream& s = *it->second;
    switch (ev.kind) {
      case http2::EventKind::interim_response:
        s.interim = std::move(ev.head);
        s.has_interim = true;
        s.wake.wake();
        break;
      case http2::EventKind::response_head:
        s.response = std::move(ev.head);
        s.head = true;
        if (ev.end_stream) s.end = true;
        s.wake.wake();
        break;
      case http2::EventKind::response_data:
        s.data.append(ev.data);   // never moves bytes a batch has lent
        if (ev.end_stream) s.end = true;
        s.wake.wake();
        break;
      case http2::EventKind::response_trailers:
        s.trailers = std::move(ev.head);
        s.trailer_lines.clear();
        {
          FieldLines lines{&s.trailer_lines};
          for (const auto& f : s.trailers.fields()) lines.add(f.name, f.value);
        }
        s.end = true;
        s.wake.wake();
        break;
      case http2::EventKind::stream_closed:
        s.closed = true;
        s.error = ev.error_code;
        s.wake.wake();
        s.writable.wake();
        break;
      case http2::EventKind::stream_writable:
        s.writable.wake();
        break;
      default:
        break;
    }
  }
}

awaitable<bool> H2UpSink::write(const http::BodyBatch& b) {
  for (size_t i = 0; i < b.n; ++i) {
    std::string_view d = b.pieces[i];
    while (!d.empty()) {
      if (cancelled_ || s_.closed) co_return false;
      d.remove_prefix(c_.codec().submit_data(s_.id, d, false));
      c_.kick();
      if (d.empty()) break;
      // (Not `!d.empty() && !co_await ...`: GCC 12 miscompiles a co_await in
      // a short-circuit operand.)
      const bool awaited = co_await s_.writable.wait(timeout_);
      if (!awaited) co_return false;
    }
  }
  if (b.end) {
    if (cancelled_ || s_.closed) co_return false;
    if (!b.trailers.empty()) {
      std::array<http::Field, 32> t;
      size_t n = split_field_lines(b.trailers, t);
      if (!c_.codec().submit_trailers(s_.id, std::span(t.data(), n))) co_return false;
    } else {
      c_.codec().submit_data(s_.id, {}, true);
    }
    c_.kick();
  }
  co_return true;
}

http::RelayStatus H2UpSource::take(http::BodyBatch& b) {
  std::string_view lent = s_.data.lend();
  b.add(lent);
  b.consumed = lent.size();
  if (s_.end && s_.data.size() == lent.size()) {
    b.end = true;
    b.trailers = s_.trailer_lines;
  }
  return http::RelayStatus::done;
}

void H2UpSource::consume(const http::BodyBatch& b) {
  s_.data.give_back(b.consumed);
  if (b.consumed == 0) return;
  if (s_.id >= 0) c_.codec().consume(s_.id, b.consumed);
  c_.kick();
}

awaitable<http::RelayStatus> H2UpSource::fill() {
  for (;;) {
    if (cancelled_) {
      detail_ = "cancelled";
      co_return http::RelayStatus::src_error;
    }
    if (!s_.data.empty() || s_.end) co_return http::RelayStatus::done;
    if (s_.closed) {
      detail_ = s_.error ? "stream reset" : "closed";
      co_return s_.error ? http::RelayStatus::src_error : http::RelayStatus::src_closed;
    }
    const bool woke = co_await s_.wake.wait(timeout_);
    if (!woke) {
      detail_ = "timed out";
      co_return http::RelayStatus::src_timeout;
    }
  }
}

}  // namespace gh::proxy
