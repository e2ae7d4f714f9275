// What one HTTP/2 connection may cost us: the sizes we advertise in SETTINGS
// (RFC 9113 6.5.2), the send-side buffers, and the abuse budgets that end a
// connection whose peer makes us work without asking for anything useful.
//
// The same struct serves ServerConnection and ClientConnection; the fields a
// role ignores say so. Out-of-range values are clamped to what RFC 9113
// allows (noted per field) when a connection is built, never rejected.
#pragma once

#include <cstdint>

namespace gh::http2 {

struct Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS we advertise (RFC 9113 5.1.2). A peer
  // going past it before it acknowledged our SETTINGS gets RST_STREAM
  // REFUSED_STREAM; after acknowledging, nghttp2 makes it a connection error
  // (GOAWAY PROTOCOL_ERROR), which RFC 9113 5.4.1 allows. Client role: the
  // number of pushed streams we accept is 0 regardless (push is disabled).
  uint32_t max_concurrent_streams = 128;

  // SETTINGS_MAX_HEADER_LIST_SIZE, in bytes as RFC 9113 6.5.2 counts them
  // (name + value + 32 per field, pseudo-header fields included, after HPACK
  // decoding: the "HPACK bomb" bound). Enforced, not only advertised:
  //  * a request head over it whose block is complete is refused with an
  //    Event::request_refused (status 431) that the caller answers;
  //  * a header block still going on in CONTINUATION frames when it passes
  //    the limit is a connection error (GOAWAY ENHANCE_YOUR_CALM);
  //  * trailers, or a response head (client role), over it: RST_STREAM
  //    ENHANCE_YOUR_CALM and Event::stream_closed with that code.
  uint32_t max_header_list_bytes = 65536;

  // SETTINGS_INITIAL_WINDOW_SIZE: receive window per stream, bytes
  // (RFC 9113 6.9.2). Clamped to [0, 2^31-1]. Nothing of it is returned to
  // the peer (WINDOW_UPDATE) before the caller consume()s what it was given.
  uint32_t initial_window_bytes = 65535 * 4;

  // Receive window of the whole connection, bytes; announced with a
  // connection WINDOW_UPDATE right after SETTINGS. Clamped to [65535, 2^31-1].
  uint32_t connection_window_bytes = 1u << 20;

  // SETTINGS_MAX_FRAME_SIZE: largest frame payload we accept, bytes.
  // Clamped to [16384, 16777215] (RFC 9113 6.5.2).
  uint32_t max_frame_bytes = 16384;

  // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 3): with it, a request may
  // carry ":protocol" (extended CONNECT, e.g. WebSocket); without it such a
  // request is a stream error (RST_STREAM PROTOCOL_ERROR). Server role only.
  bool enable_connect_protocol = true;

  // Send side: bytes submit_data() keeps per stream, at most. A stream takes
  // min(peer's window + 16 KiB, this) minus what it already holds, so a
  // connection holds at most max_concurrent_streams * this in send queues.
  uint32_t max_send_buffer_per_stream = 65536;

  // Length of one budget window, milliseconds of the caller's clock (the
  // now_ms it passes to receive()). The counters below restart at 0 when a
  // window has passed since the current one began (fixed windows: a burst
  // straddling a boundary can reach twice a budget, never more).
  uint32_t budget_window_ms = 10000;

  // RST_STREAM frames the peer may send per window ("rapid reset",
  // CVE-2023-44487), on any stream, closed ones included. One more: GOAWAY
  // ENHANCE_YOUR_CALM. (nghttp2's own limiter stays behind it as a
  // backstop: a burst of max(1000, 2 * this), then 33 per second.)
  uint32_t max_resets_per_window = 200;

  // RST_STREAM frames we may have to send per window because of the peer's
  // errors ("MadeYouReset", CVE-2025-8671): WINDOW_UPDATE 0 or overflow on
  // a stream, DATA on a half-closed stream, invalid or excess header fields,
  // a Content-Length the DATA disagrees with, streams over the concurrency
  // limit, request heads refused with 431. Resets the caller asks for
  // (reset_stream) are not counted. One more: GOAWAY ENHANCE_YOUR_CALM.
  uint32_t max_stream_errors_per_window = 100;

  // Frames that cost us work and give the peer nothing, per window:
  // SETTINGS, PING, PRIORITY, GOAWAY, DATA of length 0 without END_STREAM,
  // HEADERS or CONTINUATION of length 0, and frames of unknown/extension
  // types (any ACK included). WINDOW_UPDATE is not counted (downloads send
  // many; an increment of 0 or an overflow is an error anyway). One more:
  // GOAWAY ENHANCE_YOUR_CALM.
  uint32_t max_control_frames_per_window = 1000;

  // CONTINUATION frames allowed after one HEADERS frame (CONTINUATION
  // flood, CVE-2024-27316 family). One more: GOAWAY ENHANCE_YOUR_CALM.
  uint32_t max_continuation_frames = 8;
};

// Counters for logs and metrics, cumulative over the connection's life.
struct Counters {
  uint64_t streams = 0;             // server: request heads delivered; client: requests submitted
  uint64_t resets_by_peer = 0;      // RST_STREAM frames received
  uint64_t stream_errors = 0;       // RST_STREAM frames we sent because of the peer (see above)
  uint64_t refused_header_lists = 0;  // header blocks over max_header_list_bytes
  uint64_t control_frames = 0;      // frames counted against max_control_frames_per_window
  uint32_t floods = 0;              // budgets exceeded (the connection ended on the first)
};

}  // namespace gh::http2
