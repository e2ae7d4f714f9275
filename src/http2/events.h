// What a connection reports after receive() (and, for a few kinds, after
// pending_output()): one Event per happening, drained in order with
// next_event().
//
// Lifetimes: `head` owns its strings (see HeaderBlock) and may be kept as
// long as the caller likes. `data` points into the bytes given to the
// receive() call that produced the event, so it is valid until the caller
// changes or frees those bytes, and at the latest until the next receive().
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "http2/header_block.h"

namespace gh::http2 {

// RFC 9113 7: REFUSED_STREAM, "not processed": a request refused so is safe
// to retry, on another connection or backend.
inline constexpr uint32_t kRefusedStream = 0x7;

enum class EventKind : uint8_t {
  // --- server role ---
  // A complete, validated request head (head: method, scheme, authority,
  // path, protocol, fields, content_length). end_stream: no body follows.
  request_head,
  // Request body bytes (data, maybe empty) and/or its end (end_stream).
  // Each byte must be given back with consume() once the caller is done
  // with it; until then the peer's window stays that much smaller.
  request_data,
  // Request trailers (head.fields); the request is complete.
  request_trailers,
  // A request head over Limits::max_header_list_bytes: nothing of it was
  // kept. The caller answers it (submit_response with `status`, 431) or
  // resets it; its body, if any, is discarded by the codec.
  request_refused,

  // --- client role ---
  // An interim (1xx) response head (head.status, head.fields); more follow.
  interim_response,
  // The final response head (head.status >= 200, fields, content_length).
  response_head,
  // Response body bytes, like request_data (consume() them).
  response_data,
  // Response trailers (head.fields); the response is complete.
  response_trailers,

  // --- both roles ---
  // The stream is over, for good (the "stream reset" signal too). error_code
  // 0: both sides done normally. Otherwise the HTTP/2 error code (RFC 9113
  // 7) of the reset: the peer's RST_STREAM (peer_reset true), or ours,
  // because the caller asked (reset_stream) or because of the peer's error
  // (PROTOCOL_ERROR for a malformed message or a Content-Length the DATA
  // disagrees with, FLOW_CONTROL_ERROR, ENHANCE_YOUR_CALM for an oversized
  // header list, ...). Client: REFUSED_STREAM when the server will not have
  // processed the request (GOAWAY below its id, or never sent): safe to
  // retry. Reported once for each stream the caller knows (server: after
  // request_head/request_refused; client: every submitted request); after
  // it, calls naming the stream do nothing. Not reported when the whole
  // connection ends (receive() false).
  stream_closed,
  // submit_data() on this stream, which accepted less than it was offered,
  // would now accept more (the peer opened its window or our queue drained).
  stream_writable,
  // The peer sent GOAWAY (RFC 9113 6.8): last_stream_id is the last stream
  // it may process, error_code why. Client role: streams above it get
  // stream_closed with REFUSED_STREAM (safe to retry elsewhere).
  goaway,
};

struct Event {
  EventKind kind = EventKind::stream_closed;
  int32_t stream_id = 0;
  bool end_stream = false;      // request_head, request_data, response_head, response_data
  std::string_view data;        // request_data, response_data
  HeaderBlock head;             // *_head, *_trailers, interim_response
  int status = 0;               // request_refused: the status to answer with
  uint32_t error_code = 0;      // stream_closed, goaway (RFC 9113 7)
  bool peer_reset = false;      // stream_closed: the peer sent the RST_STREAM
  int32_t last_stream_id = 0;   // goaway
};

// Events in arrival order. A vector drained from the front and emptied
// once all are taken, so its storage is kept: no allocation per event once
// warm (a deque allocates and frees a block every few events).
class EventQueue {
 public:
  bool empty() const { return head_ == v_.size(); }
  Event& back() { return v_.back(); }
  void push_back(Event&& ev) { v_.push_back(std::move(ev)); }
  // The oldest event, moved out. Requires !empty().
  void pop_front_into(Event& out) {
    out = std::move(v_[head_++]);
    if (head_ == v_.size()) {
      v_.clear();
      head_ = 0;
    }
  }

 private:
  std::vector<Event> v_;
  size_t head_ = 0;
};

}  // namespace gh::http2
