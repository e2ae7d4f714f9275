#include "http2/connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <new>

#include "http2/callbacks.h"
#include "http2/frame_scanner.h"
#include "http2/out_fields.h"
#include "http2/stream.h"
#include "http2/tuning.h"

namespace gh::http2 {

namespace {

Limits clamped(Limits l) {
  constexpr uint32_t kMaxWindow = 0x7fffffff;
  l.max_frame_bytes = std::clamp<uint32_t>(l.max_frame_bytes, 16384, 16777215);
  l.initial_window_bytes = std::min(l.initial_window_bytes, kMaxWindow);
  l.connection_window_bytes = std::clamp<uint32_t>(l.connection_window_bytes, 65535, kMaxWindow);
  l.budget_window_ms = std::max<uint32_t>(l.budget_window_ms, 1);
  l.max_send_buffer_per_stream = std::max<uint32_t>(l.max_send_buffer_per_stream, 1);
  return l;
}

// "GET / HTTP/1.1": an upper-case token, then a space (or nothing yet).
bool looks_like_http1(std::string_view b) {
  size_t i = 0;
  while (i < b.size() && b[i] >= 'A' && b[i] <= 'Z') ++i;
  return i > 0 && (i == b.size() || b[i] == ' ');
}

}  // namespace

Connection::Connection(Role role, const Limits& limits)
    : role_(role), limits_(clamped(limits)), scratch_(std::make_unique<OutFields>()),
      scanner_(std::make_unique<FrameScanner>(role == Role::server)) {
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) throw std::bad_alloc();
  // WINDOW_UPDATE only for what the caller consume()d (receive backpressure).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_send_header_block_length(opt, kMaxSendHeaderBlock);
  // Unsent SETTINGS/PING ACKs (and resets) a peer that does not read may
  // pile up before the session gives up (NGHTTP2_ERR_FLOODED).
  nghttp2_option_set_max_outbound_ack(opt, kMaxQueuedAcks);
  nghttp2_option_set_max_settings(opt, kMaxSettingsEntries);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // nghttp2's own limits stay as a backstop behind ours, which fire first.
  nghttp2_option_set_stream_reset_rate_limit(
      opt, std::max<uint64_t>(1000, 2ull * limits_.max_resets_per_window), 33);
  nghttp2_option_set_max_continuations(opt, size_t(limits_.max_continuation_frames) + 1);

  int rv = role == Role::server
               ? nghttp2_session_server_new2(&session_, Callbacks::table(), this, opt)
               : nghttp2_session_client_new2(&session_, Callbacks::table(), this, opt);
  nghttp2_option_del(opt);
  if (rv != 0) throw std::bad_alloc();

  nghttp2_settings_entry iv[8];
  size_t n = 0;
  if (role == Role::server) {
    iv[n++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams};
    if (limits_.enable_connect_protocol) iv[n++] = {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
  } else {
    iv[n++] = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
  }
  iv[n++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window_bytes};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, limits_.max_frame_bytes};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes};
  // RFC 9218: no RFC 7540 priority tree is kept (nor can be flooded).
  iv[n++] = {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1};
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, n) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                            int32_t(limits_.connection_window_bytes)) != 0) {
    nghttp2_session_del(session_);
    throw std::bad_alloc();
  }
}

Connection::~Connection() {
  // Streams first: nothing in them refers to the session, and the session's
  // deletion calls no callback.
  streams_.clear();
  nghttp2_session_del(session_);
}

Stream* Connection::find(int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Connection::roll_window(uint64_t now_ms) {
  if (window_started_ && now_ms >= window_start_ms_ &&
      now_ms - window_start_ms_ < limits_.budget_window_ms)
    return;
  window_started_ = true;
  window_start_ms_ = now_ms;
  window_resets_ = window_stream_errors_ = window_control_ = 0;
}

int Connection::fail(uint32_t code, std::string why, bool flood) {
  if (!fatal_) {
    fatal_ = true;
    reason_ = std::move(why);
    if (flood) ++counters_.floods;
    nghttp2_session_terminate_session(session_, code);
  }
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

bool Connection::count_frame(const FrameHead& h) {
  bool control = false;
  switch (h.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_PUSH_PROMISE:
      in_header_block_ = !(h.flags & NGHTTP2_FLAG_END_HEADERS);
      continuations_ = 0;
      control = h.length == 0;
      break;
    case NGHTTP2_CONTINUATION:
      if (in_header_block_ && ++continuations_ > limits_.max_continuation_frames) {
        fail(NGHTTP2_ENHANCE_YOUR_CALM,
             "CONTINUATION flood: more than " + std::to_string(limits_.max_continuation_frames) +
                 " CONTINUATION frames in one header block",
             true);
        return false;
      }
      if (h.flags & NGHTTP2_FLAG_END_HEADERS) in_header_block_ = false;
      control = h.length == 0;
      break;
    case NGHTTP2_DATA:
      control = h.length == 0 && !(h.flags & NGHTTP2_FLAG_END_STREAM);
      break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_GOAWAY:  // each one is an event for the caller
      control = true;
      break;
    case NGHTTP2_RST_STREAM:  // rapid reset (CVE-2023-44487), closed streams' ones too
      ++counters_.resets_by_peer;
      if (++window_resets_ > limits_.max_resets_per_window) {
        fail(NGHTTP2_ENHANCE_YOUR_CALM,
             "rapid reset: more than " + std::to_string(limits_.max_resets_per_window) +
                 " RST_STREAM frames in " + std::to_string(limits_.budget_window_ms) + " ms",
             true);
        return false;
      }
      break;
    case NGHTTP2_WINDOW_UPDATE:  // a download makes many; 0 and overflow are errors
      break;
    default:  // extension and unknown types
      control = true;
      break;
  }
  if (control && count_control_frame()) {
    fail(NGHTTP2_ENHANCE_YOUR_CALM,
         "control frame flood: more than " + std::to_string(limits_.max_control_frames_per_window) +
             " SETTINGS/PING/PRIORITY/GOAWAY/empty/unknown frames in " +
             std::to_string(limits_.budget_window_ms) + " ms",
         true);
    return false;
  }
  return true;
}

bool Connection::count_control_frame() {
  ++counters_.control_frames;
  return ++window_control_ > limits_.max_control_frames_per_window;
}

bool Connection::count_stream_error() {
  ++counters_.stream_errors;
  return ++window_stream_errors_ > limits_.max_stream_errors_per_window;
}

bool Connection::receive(std::string_view bytes, uint64_t now_ms) {
  if (fatal_) return false;
  roll_window(now_ms);
  if (role_ == Role::server && start_.size() < 16)
    start_.append(bytes.substr(0, 16 - start_.size()));
  // Frames are counted before nghttp2 sees them: a flood ends the
  // connection before any of its frames is processed.
  if (!scanner_->scan(bytes, [this](const FrameHead& h) { return count_frame(h); })) {
    after_call();
    return false;
  }
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                        bytes.size());
  if (rv < 0 && !fatal_) {
    switch (rv) {
      case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        // RFC 9113 3.4: PROTOCOL_ERROR, and the GOAWAY may be omitted; a
        // peer speaking HTTP/1 could not read it anyway.
        fatal_ = silent_ = true;
        reason_ = looks_like_http1(start_)
                      ? "no HTTP/2 connection preface: HTTP/1.x request (h2c upgrade is not supported)"
                      : "no HTTP/2 connection preface";
        break;
      case NGHTTP2_ERR_FLOODED:
        fail(NGHTTP2_ENHANCE_YOUR_CALM,
             "flood: the peer asks for more answers (PING/SETTINGS ACK, RST_STREAM) than it reads",
             true);
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        fail(NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood (nghttp2 limit)", true);
        break;
      default:
        fail(NGHTTP2_INTERNAL_ERROR, std::string("nghttp2: ") + nghttp2_strerror(int(rv)), false);
        break;
    }
  }
  after_call();
  return !fatal_ && nghttp2_session_want_read(session_);
}

void Connection::after_call() {
  for (int round = 0; round < 4; ++round) {
    if (pending_consume_ > 0 && !fatal_) {
      nghttp2_session_consume_connection(session_, pending_consume_);
      pending_consume_ = 0;
    }
    fill_output();
    if (pending_consume_ == 0 || fatal_) break;
  }
  check_writable();
}

void Connection::fill_output() {
  if (silent_) return;
  int rv = nghttp2_session_send(session_);
  if (rv != 0 && !fatal_) {
    fatal_ = true;
    reason_ = std::string("nghttp2 send: ") + nghttp2_strerror(rv);
  }
}

void Connection::check_writable() {
  if (blocked_.empty()) return;
  size_t keep = 0;
  for (int32_t id : blocked_) {
    Stream* s = find(id);
    if (!s || !s->blocked) continue;
    if (data_capacity(id) > 0) {
      s->blocked = false;
      Event ev;
      ev.kind = EventKind::stream_writable;
      ev.stream_id = id;
      events_.push_back(std::move(ev));
      continue;
    }
    blocked_[keep++] = id;
  }
  blocked_.resize(keep);
}

bool Connection::next_event(Event& out) {
  if (events_.empty()) return false;
  events_.pop_front_into(out);
  return true;
}

std::string_view Connection::pending_output() {
  if (silent_) return {};
  if (output_pending() < kOutputHighWater) after_call();
  return std::string_view(out_).substr(out_pos_);
}

void Connection::output_written(size_t n) {
  out_pos_ = std::min(out_.size(), out_pos_ + n);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
    // An idle connection keeps no big buffer.
    if (streams_.empty() && out_.capacity() > 4096) std::string().swap(out_);
  } else if (out_pos_ >= kOutputHighWater / 2) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  after_call();
}

bool Connection::wants_write() const {
  if (silent_) return false;
  return output_pending() > 0 || nghttp2_session_want_write(session_);
}

bool Connection::wants_read() const { return !fatal_ && nghttp2_session_want_read(session_); }

size_t Connection::data_capacity(int32_t id) const {
  Stream* s = find(id);
  if (!s || !s->provider || s->out_eof || s->app_reset) return 0;
  int32_t sw = nghttp2_session_get_stream_remote_window_size(session_, id);
  // Client: the stream exists in nghttp2 only once its HEADERS went out.
  if (sw < 0)
    sw = int32_t(nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE));
  int32_t cw = nghttp2_session_get_remote_window_size(session_);
  uint64_t window = uint64_t(std::max(0, std::min(sw, cw)));
  uint64_t cap = std::min<uint64_t>(window + kSendSlack, limits_.max_send_buffer_per_stream);
  return cap > s->out.size() ? size_t(cap - s->out.size()) : 0;
}

size_t Connection::submit_data(int32_t id, std::string_view bytes, bool end_stream) {
  Stream* s = find(id);
  if (!s || !s->provider || s->out_eof || s->app_reset || fatal_) return 0;
  size_t n = std::min(bytes.size(), data_capacity(id));
  s->out.append(bytes.substr(0, n));
  if (n == bytes.size()) {
    if (end_stream) s->out_eof = true;
  } else if (!s->blocked) {
    s->blocked = true;
    blocked_.push_back(id);
  }
  if (s->deferred && (n > 0 || s->out_eof)) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return n;
}

bool Connection::submit_trailers(int32_t id, std::span<const http::Field> fields) {
  Stream* s = find(id);
  if (!s || !s->provider || s->out_eof || s->app_reset || fatal_) return false;
  if (!fields.empty()) {
    auto t = std::make_unique<OutFields>();
    if (!t->add(fields, role_ == Role::client, false)) return false;
    if (t->size() > 0) s->trailers = std::move(t);
  }
  s->out_eof = true;
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return true;
}

void Connection::reset_stream(int32_t id, uint32_t error_code) {
  Stream* s = find(id);
  if (!s || s->app_reset || fatal_) return;
  s->app_reset = true;
  s->out_eof = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void Connection::consume(int32_t id, size_t bytes) {
  Stream* s = find(id);
  if (!s || fatal_) return;
  size_t n = size_t(std::min<uint64_t>(bytes, s->unconsumed));
  if (n == 0) return;
  s->unconsumed -= n;
  nghttp2_session_consume(session_, id, n);
}

void Connection::shutdown_graceful() {
  if (fatal_) return;
  if (role_ == Role::server) {
    if (!drain_ping_sent_) {
      drain_ping_sent_ = true;
      nghttp2_submit_shutdown_notice(session_);
      nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kDrainPing);
    } else if (!goaway_final_sent_) {
      // Called again (the caller's drain timer): no waiting for the ACK.
      goaway_final_sent_ = true;
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                            nullptr, 0);
    }
  } else if (!goaway_final_sent_) {
    goaway_final_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  }
}

void Connection::terminate(uint32_t error_code, std::string_view why) {
  if (fatal_) return;
  fatal_ = true;
  reason_ = why;
  nghttp2_session_terminate_session(session_, error_code);
}

}  // namespace gh::http2
