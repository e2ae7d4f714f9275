// What the HTTP/2 server and client connections share (RFC 9113): a
// sans-I/O codec around one nghttp2 session. Bytes from the peer go in
// (receive), events come out (next_event), bytes for the peer come out
// (pending_output / output_written). No sockets, no clock of its own, no
// threads: one connection is used by one thread at a time.
//
// Flow control is backpressure in both directions:
//  * receiving: request/response body bytes are reported as views and are
//    not acknowledged to the peer (WINDOW_UPDATE) before the caller
//    consume()s them, so a slow consumer stops the peer after at most
//    Limits::initial_window_bytes per stream and connection_window_bytes in
//    all;
//  * sending: submit_data() takes only what the peer's window allows plus
//    16 KiB, at most Limits::max_send_buffer_per_stream per stream, and says
//    how much it took; Event::stream_writable says when to offer the rest.
//
// Copies: a received header field is a view into nghttp2's HPACK buffer
// (reference-counted, see HeaderBlock); a received body byte is a view into
// the caller's own bytes given to receive(). A sent body byte is copied
// twice: into the stream's send queue by submit_data(), and from there into
// the output buffer as a DATA frame (nghttp2 copies none: NO_COPY).
//
// Memory per connection, bounded: nghttp2's session (HPACK tables of 4 KiB
// each way, stream objects, queued control frames: at most 256 unsent ACKs
// and resets, then the connection ends), our output buffer (64 KiB plus one
// frame), one header block being decoded (HTTP/2 never interleaves them; at
// most max_header_list_bytes of fields, and no more than
// 1 + max_continuation_frames frames of it), per stream one send queue (at
// most max_send_buffer_per_stream), and the events not yet drained (data
// events are views; header events hold one block each).
//
// Abuse: every frame header the peer sends is counted (FrameScanner) before
// nghttp2 processes it, so frames nghttp2 would skip silently count too;
// see Limits for the budgets. A budget exceeded ends the connection with
// GOAWAY ENHANCE_YOUR_CALM and Counters::floods.
//
// Errors: a connection error (ours or nghttp2's) queues GOAWAY and makes
// receive() return false; reason() says why. A stream error resets that
// stream only (RST_STREAM) and reports Event::stream_closed with its code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/exchange.h"
#include "http2/events.h"
#include "http2/limits.h"

struct nghttp2_session;

namespace gh::http2 {

struct Stream;      // per-stream state (stream.h)
struct Callbacks;   // the nghttp2 callbacks (callbacks.cc)
class OutFields;    // header fields to send (out_fields.h)
class FrameScanner; // frame headers ahead of nghttp2 (frame_scanner.h)
struct FrameHead;

class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  virtual ~Connection();

  // Feeds bytes read from the peer (for a server, the client connection
  // preface first, RFC 9113 3.4). Any split works, one byte at a time too.
  // Data events point into `bytes`: the caller keeps them unchanged until
  // it has drained the events (and at the latest until the next receive).
  // `now_ms`: the caller's monotonic clock in milliseconds, used only for
  // the abuse budgets' windows (Limits::budget_window_ms).
  // Also moves what nghttp2 has to send into pending_output().
  // Returns false when the connection is over: a connection error (GOAWAY
  // queued unless the preface was wrong; reason() says why), or both sides
  // are done after GOAWAY. The caller then writes pending_output() and
  // closes. Bytes given after that are ignored, and streams still open get
  // no stream_closed event: they all end with the connection.
  bool receive(std::string_view bytes, uint64_t now_ms);

  // Takes the next event into `out` (overwriting it); false when there is
  // none. Events come from receive(), and stream_closed/stream_writable also
  // from pending_output() and output_written(); drain after each.
  bool next_event(Event& out);

  // Bytes to write to the peer, produced from nghttp2's queue up to a 64 KiB
  // high-water mark. Valid until the next call on this connection.
  std::string_view pending_output();
  // The caller wrote the first `n` bytes of pending_output().
  void output_written(size_t n);

  // Something to write (pending_output() would not be empty).
  bool wants_write() const;
  // The connection still expects bytes from the peer.
  bool wants_read() const;

  // Submissions (here and in the subclasses) take effect in the next
  // pending_output(); nothing is written by them.
  //
  // Offers response (server) or request (client) body bytes for `stream`.
  // Returns how many it took (a prefix of `bytes`): 0 when the stream's
  // queue is full, the stream is unknown/closed/reset, its head was not
  // submitted with end_stream false, or its end was already submitted.
  // `end_stream` takes effect only when every byte was taken; an empty
  // `bytes` with end_stream ends the body (returns 0). Bytes are copied.
  // After a short count, wait for Event::stream_writable.
  size_t submit_data(int32_t stream, std::string_view bytes, bool end_stream);
  // How many bytes submit_data() would take now.
  size_t data_capacity(int32_t stream) const;

  // Ends the stream's body with trailer fields (HEADERS with END_STREAM,
  // RFC 9113 8.1), sent after every queued byte. Same field rules as heads
  // (no pseudo-header fields). False: unknown stream, head not submitted
  // with end_stream false, end already submitted, or a refused field.
  bool submit_trailers(int32_t stream, std::span<const http::Field> fields);

  // Resets a stream (RST_STREAM with `error_code`, RFC 9113 6.4), e.g.
  // CANCEL when the other side of the proxy went away. Not counted as a
  // stream error. Unknown or closed streams: nothing happens.
  void reset_stream(int32_t stream, uint32_t error_code);

  // The caller is done with `bytes` of the stream's request_data /
  // response_data: that much window goes back to the peer (WINDOW_UPDATE
  // once half a window is due). Clamped to what was delivered and not yet
  // consumed. Bytes of streams that closed are given back by the codec.
  void consume(int32_t stream, size_t bytes);

  // Graceful close (RFC 9113 6.8). Server: GOAWAY with stream id 2^31-1 and
  // a PING now; when the PING's ACK is back (the client has seen the
  // notice), GOAWAY with the last stream id we took; a second call sends
  // that GOAWAY at once (for a client that never answers the PING). Client:
  // GOAWAY now. Streams already started finish; new ones are ignored
  // (server) or refused by submit_request (client). The connection is over
  // when receive() returns false or wants_read() and wants_write() are both
  // false; bound the wait with terminate().
  void shutdown_graceful();
  // Ends the connection now (e.g. a timeout): GOAWAY with `error_code`
  // (RFC 9113 7) in pending_output(), nothing more read, reason() becomes
  // `reason`.
  void terminate(uint32_t error_code, std::string_view reason);

  // No stream is open (or being opened).
  bool idle() const { return streams_.empty(); }
  // Why the connection ended or is ending; empty while it is fine.
  std::string_view reason() const { return reason_; }
  const Counters& counters() const { return counters_; }
  const Limits& limits() const { return limits_; }

 protected:
  enum class Role { server, client };
  Connection(Role role, const Limits& limits);

  Stream* find(int32_t id) const;
  // Flushes nghttp2's queue into the output buffer, gives back window of
  // closed streams, reports streams that became writable.
  void after_call();
  bool fatal() const { return fatal_; }
  // GOAWAY sent (final) or received: no new streams.
  bool closing() const { return goaway_final_sent_ || goaway_received_; }

  Role role_;
  Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  EventQueue events_;
  Counters counters_;
  std::unique_ptr<OutFields> scratch_;  // fields of the head being submitted
  bool goaway_received_ = false;

 private:
  friend struct Callbacks;

  void fill_output();
  void check_writable();
  void roll_window(uint64_t now_ms);
  // Ends the connection because of the peer: GOAWAY `code`, reason, counted
  // as a flood when `flood`. Returns the nghttp2 code that stops mem_recv.
  int fail(uint32_t code, std::string reason, bool flood);
  // Counts one frame of the peer's against the frame budgets; false (and
  // the connection failed) when one is exceeded.
  bool count_frame(const FrameHead& h);
  // Counts a frame against max_control_frames_per_window; true when over.
  bool count_control_frame();
  // Counts a stream error (see Limits); true when over the budget.
  bool count_stream_error();
  size_t output_pending() const { return out_.size() - out_pos_; }

  std::string out_;       // bytes for the peer; out_pos_ of them are written
  size_t out_pos_ = 0;
  bool fatal_ = false;    // connection over (error); nothing more is read
  bool silent_ = false;   // ... and nothing more is written (bad preface)
  std::string reason_;
  std::string last_error_;  // nghttp2's latest message, for reason_
  std::string start_;       // server: the first 16 bytes received, to name a bad preface
  std::vector<int32_t> blocked_;  // streams whose submit_data came up short

  // Abuse budgets: counts in the current window.
  uint64_t window_start_ms_ = 0;
  bool window_started_ = false;
  uint32_t window_resets_ = 0;
  uint32_t window_stream_errors_ = 0;
  uint32_t window_control_ = 0;
  std::unique_ptr<FrameScanner> scanner_;
  bool in_header_block_ = false;  // a HEADERS/PUSH_PROMISE without END_HEADERS was seen
  uint32_t continuations_ = 0;    // CONTINUATION frames in the current header block
  size_t pending_consume_ = 0;    // connection window to give back after a callback

  bool drain_ping_sent_ = false;  // server graceful shutdown, step one done
  bool goaway_final_sent_ = false;
};

}  // namespace gh::http2
