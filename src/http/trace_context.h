// W3C Trace Context level 1 (https://www.w3.org/TR/trace-context-1/): the
// `traceparent` request field, parsed and made in this one place. gatehouse
// does not take part in traces itself: it passes the field on unchanged,
// logs its trace-id, and with `server.traceparent: start` begins a trace for
// a request that came without a valid one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "http/exchange.h"

namespace gh::http {

// The size of a version-00 traceparent value: "00-" 32 hex "-" 16 hex "-" 2 hex.
inline constexpr size_t kTraceparentSize = 55;

// A traceparent value's parts: views into the value parsed.
struct Traceparent {
  std::string_view version;     // 2 lowercase hex digits, never "ff"
  std::string_view trace_id;    // 32 lowercase hex digits, not all zero
  std::string_view parent_id;   // 16 lowercase hex digits, not all zero
  std::string_view flags;       // 2 lowercase hex digits
};

// Parses a traceparent field value (section 3.2; field values come without
// surrounding whitespace). Refuses (nullopt): uppercase or other non-hex
// digits, version "ff", an all-zero trace-id or parent-id, version 00 with
// any other length than 55, and a later version shorter than 55 or whose
// flags are followed by anything but "-" (section 3.2.4: a later version is
// read by the fields version 00 has, what follows them is its business).
std::optional<Traceparent> parse_traceparent(std::string_view value);

// Writes a version-00 traceparent of the given ids into `out` (exactly
// kTraceparentSize bytes, no terminator). An all-zero id is not valid: the
// caller makes sure at least one byte of each is not zero.
void format_traceparent(std::span<const uint8_t, 16> trace_id,
                        std::span<const uint8_t, 8> parent_id, uint8_t flags, char* out);

// One request's trace context as the proxy handles it, held in the request's
// own storage (no allocation; trivially copyable) so that the log's trace_id
// outlives the request head's bytes.
class RequestTrace {
 public:
  // Reads the request's traceparent field. Exactly one, and valid: its
  // trace-id is noted. None, an invalid one, or several (the field is not a
  // list): no trace-id, and with `start` a new trace begins (random ids from
  // `rand`, a callable returning uint64_t, called only then; flags 00, not
  // sampled) whose traceparent replaces the received ones upstream.
  template <class Rand>
  void read(std::span<const Field> fields, bool start, Rand&& rand) {
    if (read_received(fields) || !start) return;
    const uint64_t w[3] = {rand(), rand(), rand()};
    begin(w);
  }
  // The 32 lowercase hex digits of the trace-id, or empty when none.
  std::string_view trace_id() const {
    return state_ == State::none ? std::string_view() : std::string_view(value_ + 3, 32);
  }
  // The traceparent to send upstream instead of the client's traceparent
  // (and tracestate, which belongs to the trace replaced), or empty when the
  // client's fields pass as they are.
  std::string_view started() const {
    return state_ == State::started ? std::string_view(value_, kTraceparentSize)
                                    : std::string_view();
  }
  void clear() { state_ = State::none; }

  // (Public for tests.) Begins a trace from three random words: trace-id
  // from the first two, parent-id from the third (an all-zero id gets its
  // last bit set, so it stays valid).
  void begin(const uint64_t (&words)[3]);

 private:
  bool read_received(std::span<const Field> fields);
  enum class State : uint8_t { none, received, started };
  State state_ = State::none;
  char value_[kTraceparentSize] = {};   // received: the trace-id at 3..35; started: the whole value
};

}  // namespace gh::http
