// The nghttp2 callbacks: where frames become events, and where stream errors
// and header list sizes are counted (frames, resets included, are counted
// earlier, in Connection::count_frame).
//
// What nghttp2 1.52 already checks before these run, and we rely on: the
// preface, frame sizes and flags, stream states (RFC 9113 5.1), flow-control
// windows (6.9), HPACK (RFC 7541), SETTINGS values (6.5.2), and with HTTP
// messaging on (the default) RFC 9113 8.2/8.3: lowercase names, no
// connection-specific fields, TE only "trailers", field value characters
// and surrounding whitespace, pseudo-header fields (required per method,
// unique, before regular ones, none unknown, :path not empty, :protocol only
// on CONNECT and with SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 4),
// Content-Length syntax and its agreement with the DATA received (8.1.1),
// no DATA on 1xx/204/304 or HEAD responses, trailers with END_STREAM and
// without pseudo-header fields. What we add: Host against :authority
// (8.3.1), cookie crumbs (8.2.3), the header list size (6.5.2).
//
// nghttp2 makes some errors RFC 9113 allows as stream errors connection
// errors: DATA on a half-closed stream (STREAM_CLOSED), WINDOW_UPDATE 0 on a
// stream (PROTOCOL_ERROR), and, once our SETTINGS are acknowledged, a stream
// over SETTINGS_MAX_CONCURRENT_STREAMS (PROTOCOL_ERROR).
#include "http2/callbacks.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "http2/tuning.h"

namespace gh::http2 {

namespace {

Connection& self(void* user) { return *static_cast<Connection*>(user); }

void push_data_end(EventQueue& events, EventKind kind, int32_t id) {
  if (!events.empty() && events.back().kind == kind && events.back().stream_id == id) {
    events.back().end_stream = true;
    return;
  }
  Event ev;
  ev.kind = kind;
  ev.stream_id = id;
  ev.end_stream = true;
  events.push_back(std::move(ev));
}

}  // namespace

const nghttp2_session_callbacks* Callbacks::table() {
  static const nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    if (nghttp2_session_callbacks_new(&c) != 0) throw std::bad_alloc();
    nghttp2_session_callbacks_set_send_callback(c, send);
    nghttp2_session_callbacks_set_send_data_callback(c, send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(c, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(c, on_frame_not_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(c, on_error);
    return c;
  }();
  return cbs;
}

nghttp2_data_provider Callbacks::provider(Stream& s) {
  nghttp2_data_provider p;
  p.source.ptr = &s;
  p.read_callback = read_data;
  return p;
}

// --- output -----------------------------------------------------------------

ssize_t Callbacks::send(nghttp2_session*, const uint8_t* data, size_t len, int, void* user) {
  Connection& c = self(user);
  if (c.output_pending() >= kOutputHighWater) return NGHTTP2_ERR_WOULDBLOCK;
  c.out_.append(reinterpret_cast<const char*>(data), len);
  return ssize_t(len);
}

int Callbacks::send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                         size_t length, nghttp2_data_source* source, void* user) {
  Connection& c = self(user);
  if (c.output_pending() >= kOutputHighWater) return NGHTTP2_ERR_WOULDBLOCK;
  Stream& s = *static_cast<Stream*>(source->ptr);
  c.out_.append(reinterpret_cast<const char*>(framehd), 9);
  // No padding: we set no select_padding callback, so padlen is 0.
  c.out_.append(s.out.front(length));
  s.out.pop(length);
  (void)frame;
  return 0;
}

ssize_t Callbacks::read_data(nghttp2_session* session, int32_t stream_id, uint8_t*,
                             size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                             void*) {
  Stream& s = *static_cast<Stream*>(source->ptr);
  size_t n = std::min(length, s.out.size());
  if (n == 0 && !s.out_eof) {
    s.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == s.out.size() && s.out_eof) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.trailers) {
      // RFC 9113 8.1: trailers end the stream instead of the last DATA.
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      int rv = nghttp2_submit_trailer(session, stream_id, s.trailers->nva(), s.trailers->size());
      s.trailers.reset();
      if (rv != 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
  }
  return ssize_t(n);
}

// --- frames in --------------------------------------------------------------

int Callbacks::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  Connection& c = self(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;  // PUSH_PROMISE: push is off
  int32_t id = frame->hd.stream_id;
  Stream* s = c.find(id);
  if (!s && c.role_ == Connection::Role::server && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto fresh = std::make_unique<Stream>();
    fresh->id = id;
    s = fresh.get();
    c.streams_.emplace(id, std::move(fresh));
  }
  if (!s) return 0;
  s->block = HeaderBlock();
  s->oversized = false;
  return 0;
}

int Callbacks::on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                         nghttp2_rcbuf* value, uint8_t, void* user) {
  Connection& c = self(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = c.find(frame->hd.stream_id);
  if (!s) return 0;
  size_t size = s->block.add(name, value, !s->oversized);
  if (!s->oversized && size > c.limits_.max_header_list_bytes) {
    s->oversized = true;
    s->block.drop_fields();
    ++c.counters_.refused_header_lists;
    // Decoding on through CONTINUATION frames would be work for nothing.
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_HEADERS))
      return c.fail(NGHTTP2_ENHANCE_YOUR_CALM,
                    "header list over " + std::to_string(c.limits_.max_header_list_bytes) +
                        " bytes with CONTINUATION frames still to come",
                    true);
  }
  return 0;
}

int Callbacks::server_headers_done(Connection& c, Stream& s, const nghttp2_frame* frame) {
  bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  Event ev;
  ev.stream_id = s.id;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (s.oversized) {
      // RFC 9113 10.5.1 / RFC 6585 5: answered with 431 by the caller.
      s.known = s.refused = true;
      ev.kind = EventKind::request_refused;
      ev.status = 431;
      ev.end_stream = end;
      c.events_.push_back(std::move(ev));
      if (c.count_stream_error())
        return c.fail(NGHTTP2_ENHANCE_YOUR_CALM, "too many oversized header lists", true);
      return 0;
    }
    if (!s.block.finish(true)) {
      // RFC 9113 8.3.1: Host naming another authority than :authority.
      s.block = HeaderBlock();
      s.local_error = NGHTTP2_PROTOCOL_ERROR;
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
    s.known = true;
    ++c.counters_.streams;
    ev.kind = EventKind::request_head;
    ev.end_stream = end;
    ev.head = std::move(s.block);
    c.events_.push_back(std::move(ev));
    return 0;
  }
  // Trailers (nghttp2 made sure they end the stream).
  if (s.oversized) {
    s.local_error = NGHTTP2_ENHANCE_YOUR_CALM;
    nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_ENHANCE_YOUR_CALM);
    return 0;
  }
  if (!s.known || s.refused) {
    s.block = HeaderBlock();
    return 0;
  }
  s.block.finish(false);
  ev.kind = EventKind::request_trailers;
  ev.end_stream = true;
  ev.head = std::move(s.block);
  c.events_.push_back(std::move(ev));
  return 0;
}

int Callbacks::client_headers_done(Connection& c, Stream& s, const nghttp2_frame* frame) {
  if (s.oversized) {
    // Reported even when END_STREAM closes the stream before the reset.
    s.local_error = NGHTTP2_ENHANCE_YOUR_CALM;
    nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_ENHANCE_YOUR_CALM);
    return 0;
  }
  Event ev;
  ev.stream_id = s.id;
  ev.end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  s.block.finish(false);
  if (!s.got_head) {
    if (s.block.status < 200) {
      ev.kind = EventKind::interim_response;
    } else {
      s.got_head = true;
      ev.kind = EventKind::response_head;
    }
  } else {
    ev.kind = EventKind::response_trailers;
    ev.end_stream = true;
  }
  ev.head = std::move(s.block);
  c.events_.push_back(std::move(ev));
  return 0;
}

int Callbacks::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  Connection& c = self(user);
  int32_t id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c.find(id);
      if (!s) return 0;
      return c.role_ == Connection::Role::server ? server_headers_done(c, *s, frame)
                                                 : client_headers_done(c, *s, frame);
    }
    case NGHTTP2_DATA: {
      if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
      Stream* s = c.find(id);
      if (!s || !s->known || s->refused) return 0;
      push_data_end(c.events_,
                    c.role_ == Connection::Role::server ? EventKind::request_data
                                                        : EventKind::response_data,
                    id);
      return 0;
    }
    case NGHTTP2_RST_STREAM:  // counted in Connection::count_frame
      if (Stream* s = c.find(id)) s->peer_reset = true;
      return 0;
    case NGHTTP2_GOAWAY: {
      c.goaway_received_ = true;
      Event ev;
      ev.kind = EventKind::goaway;
      ev.last_stream_id = frame->goaway.last_stream_id;
      ev.error_code = frame->goaway.error_code;
      c.events_.push_back(std::move(ev));
      return 0;
    }
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && c.role_ == Connection::Role::server &&
          c.drain_ping_sent_ && !c.goaway_final_sent_ &&
          std::memcmp(frame->ping.opaque_data, kDrainPing, 8) == 0) {
        // RFC 9113 6.8: the client has seen the notice; now the real GOAWAY.
        c.goaway_final_sent_ = true;
        nghttp2_submit_goaway(c.session_, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c.session_),
                              NGHTTP2_NO_ERROR, nullptr, 0);
      }
      return 0;
    default:
      return 0;
  }
}

int Callbacks::on_data_chunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data,
                             size_t len, void* user) {
  Connection& c = self(user);
  Stream* s = c.find(id);
  if (!s || !s->known || s->refused) {
    // Nobody will consume it: give the window back now.
    nghttp2_session_consume(session, id, len);
    return 0;
  }
  s->unconsumed += len;
  Event ev;
  ev.kind = c.role_ == Connection::Role::server ? EventKind::request_data
                                                : EventKind::response_data;
  ev.stream_id = id;
  ev.data = std::string_view(reinterpret_cast<const char*>(data), len);
  c.events_.push_back(std::move(ev));
  return 0;
}

int Callbacks::on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  Connection& c = self(user);
  auto it = c.streams_.find(id);
  if (it == c.streams_.end()) return 0;
  Stream& s = *it->second;
  c.pending_consume_ += s.unconsumed;  // window given back after the call
  if (s.known) {
    Event ev;
    ev.kind = EventKind::stream_closed;
    ev.stream_id = id;
    ev.error_code = error_code != 0 ? error_code : s.local_error;
    ev.peer_reset = s.peer_reset;
    c.events_.push_back(std::move(ev));
  }
  c.streams_.erase(it);
  return 0;
}

// --- frames out -------------------------------------------------------------

int Callbacks::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  Connection& c = self(user);
  int32_t id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_RST_STREAM: {
      Stream* s = c.find(id);
      if ((!s || !s->app_reset) && c.count_stream_error())
        c.fail(NGHTTP2_ENHANCE_YOUR_CALM,
               "stream error flood: more than " +
                   std::to_string(c.limits_.max_stream_errors_per_window) +
                   " streams reset because of the peer's errors in " +
                   std::to_string(c.limits_.budget_window_ms) + " ms",
               true);
      return 0;
    }
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      if (c.role_ != Connection::Role::server || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
      // RFC 9113 8.1: a complete response before the complete request;
      // RST_STREAM NO_ERROR asks the client to stop sending the body.
      Stream* s = c.find(id);
      if (s && !s->app_reset && nghttp2_session_get_stream_remote_close(session, id) == 0) {
        s->app_reset = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
      }
      return 0;
    }
    case NGHTTP2_GOAWAY:
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        c.fatal_ = true;
        if (c.reason_.empty()) {
          if (frame->goaway.opaque_data_len > 0)
            c.reason_.assign(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                             std::min<size_t>(frame->goaway.opaque_data_len, 200));
          else if (!c.last_error_.empty())
            c.reason_ = c.last_error_;
          else
            c.reason_ = std::string("connection error ") +
                        nghttp2_http2_strerror(frame->goaway.error_code);
        }
      }
      return 0;
    default:
      return 0;
  }
}

int Callbacks::on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame,
                                 int lib_error, void* user) {
  Connection& c = self(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  int32_t id = frame->hd.stream_id;
  auto it = c.streams_.find(id);
  if (it == c.streams_.end()) return 0;
  Stream& s = *it->second;
  if (!nghttp2_session_find_stream(session, id)) {
    // A request nghttp2 never opened (GOAWAY came first, or the session is
    // closing): no on_stream_close will follow, so report it here. Not
    // processed by the server: safe to retry (RFC 9113 8.7).
    Event ev;
    ev.kind = EventKind::stream_closed;
    ev.stream_id = id;
    ev.error_code = lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ||
                            lib_error == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE
                        ? NGHTTP2_REFUSED_STREAM
                        : NGHTTP2_INTERNAL_ERROR;
    c.events_.push_back(std::move(ev));
    c.streams_.erase(it);
    return 0;
  }
  // A head we could not send (e.g. over the 64 KiB block limit): the
  // stream cannot go on.
  if (!s.app_reset) {
    s.app_reset = true;
    s.local_error = NGHTTP2_INTERNAL_ERROR;
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  }
  return 0;
}

// --- diagnostics --------------------------------------------------------------

int Callbacks::on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* user) {
  Connection& c = self(user);
  c.last_error_ = std::string(nghttp2_strerror(lib_error)) + " (frame type " +
                  std::to_string(frame->hd.type) + ", stream " +
                  std::to_string(frame->hd.stream_id) + ")";
  return 0;
}

int Callbacks::on_error(nghttp2_session*, int, const char* msg, size_t len, void* user) {
  self(user).last_error_.assign(msg, std::min<size_t>(len, 200));
  return 0;
}

}  // namespace gh::http2
