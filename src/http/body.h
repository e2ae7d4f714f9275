// Message bodies as streams of payload, whatever carries them (RFC 9110
// section 6.4: content, apart from its framing): a source hands out payload
// with the framing removed, a sink takes payload and frames it for its own
// protocol. HTTP/1 on either side is proxy/body_http1.h; an HTTP/2 stream is
// one more pair, and the forward path (proxy/forward.h) does not change. Memory stays bounded: a source holds at most its read buffer, and
// relay_body() never takes the next batch before the sink has written the
// last (backpressure).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace gh::http {

// The coroutine type of the I/O layers (Awaitable is the same type).
template <class T = void>
using Awaitable = boost::asio::awaitable<T, boost::asio::io_context::executor_type>;

// How a relay (or one source or sink step) ended.
enum class RelayStatus {
  done,           // whole body relayed (a step: it succeeded)
  src_closed,     // source ended before the body was complete
  src_error,      // read failed (reset, cancelled)
  src_timeout,    // source deadline fired
  src_too_slow,   // source slower than its minimum rate
  dst_error,      // write failed (or its deadline fired)
  framing_error,  // malformed framing (chunked coding) in the source
  too_large,      // more than the allowed bytes of body
};

// Payload pieces taken from a source in one step: views into the source's
// buffer, valid until the source's consume() or its next fill().
struct BodyBatch {
  static constexpr size_t kMaxPieces = 20;
  std::array<std::string_view, kMaxPieces> pieces;
  size_t n = 0;
  uint64_t payload = 0;        // bytes in pieces
  bool end = false;            // the body is complete after these pieces
  bool more = false;           // the batch filled up: more is decodable without reading
  // With `end`: the trailer section as HTTP/1 field lines ("Name: value\r\n"
  // each, validated by the source's decoder), empty when there is none.
  std::string_view trailers;
  size_t consumed = 0;         // source bytes behind these pieces (the source's business)

  bool full() const { return n == kMaxPieces; }
  void add(std::string_view d) {
    if (d.empty()) return;
    pieces[n++] = d;
    payload += d.size();
  }
};

// Where a body comes from. Not thread-safe; one relay at a time.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Takes the payload already received, without waiting: `b` may come back
  // empty (then fill() before taking again). Errors: framing_error (with
  // detail()). Each take() must be followed by consume(b) before the next.
  virtual RelayStatus take(BodyBatch& b) = 0;
  // Releases the bytes behind `b` (after the sink wrote them).
  virtual void consume(const BodyBatch& b) = 0;
  // Waits until more of the body arrived (or it ended). Errors: src_closed,
  // src_error, src_timeout, src_too_slow.
  virtual Awaitable<RelayStatus> fill() = 0;
  // Makes a waiting fill() return (src_error): the relay is being stopped.
  virtual void cancel() = 0;
  // Why the last step failed, short and static ("bad chunk size").
  virtual const char* detail() const = 0;
  // When set, true while fill() waits for the peer (the forward path then
  // knows a backend's silence is not the backend's fault).
  bool* waiting = nullptr;
};

// Where a body goes. A sink may hold a head to send with the first bytes.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Writes `b`'s pieces (and, with b.end, the end of the body and its
  // trailers). False when the destination failed (dst_error).
  virtual Awaitable<bool> write(const BodyBatch& b) = 0;
  // True while a head waits to go out with the first write: a relay then
  // writes even an empty batch at once, so a slow body never holds a head back.
  virtual bool holds_head() const = 0;
};

struct RelayOutcome {
  RelayStatus status = RelayStatus::done;
  uint64_t bytes = 0;                // payload bytes written
  bool wrote = false;                // a write (of payload, framing or a head) was attempted
  const char* detail = "";
};

// Moves a body from `src` to `dst` until its end: take what is there, write
// it, wait for more. `max_bytes` 0 means no limit; over it nothing more is
// written and too_large is returned.
Awaitable<RelayOutcome> relay_body(BodySource& src, BodySink& dst, uint64_t max_bytes);

}  // namespace gh::http
