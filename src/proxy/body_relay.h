// Streams one message body from a source stream to a destination stream with
// backpressure: read a batch, write it, read the next. Memory is the source
// buffer (bounded), whatever the body size. Used for request bodies (client
// to backend) and response bodies (backend to client).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/buffer.h"
#include "http1/chunked.h"
#include "http1/parser.h"
#include "net/deadlines.h"
#include "net/stream.h"

namespace gh::proxy {

struct RelayEnds {
  net::Stream& src;
  core::Buffer& buf;                 // source bytes already read (body data at its front)
  net::Deadline& src_deadline;
  std::chrono::milliseconds src_timeout;
  net::Stream& dst;
  net::Deadline& dst_deadline;
  std::chrono::milliseconds dst_timeout;
  // Minimum source rate in bytes per second (0: none). Only time spent
  // waiting for the source counts, never time the destination held us up.
  // The source may fall behind by kMinRateGraceMs at most; a burst banks no
  // more than that, so sending fast and then stalling does not pay.
  uint64_t src_min_rate = 0;
  // The rate applies from the first body byte on (a client that sent
  // Expect: 100-continue waits for the backend's 100 before it sends).
  bool min_rate_from_first_byte = false;
  // When set, true while the relay waits for the source (not the destination).
  bool* src_waiting = nullptr;
};

inline constexpr int64_t kMinRateGraceMs = 5000;

enum class RelayStatus {
  done,           // whole body relayed; bytes after it stay in buf
  src_closed,     // source ended before the body was complete
  src_error,      // read failed (reset, cancelled)
  src_timeout,    // source deadline fired
  src_too_slow,   // source slower than src_min_rate
  dst_error,      // write failed (or its deadline fired)
  framing_error,  // malformed chunked coding
  too_large,      // more than max_bytes of body
};

struct RelayOutcome {
  RelayStatus status = RelayStatus::done;
  uint64_t bytes = 0;                // body bytes written (payload, without chunk framing)
  bool wrote = false;                // a write of body bytes or framing was attempted
  const char* detail = "";
};

// Relays a body framed as `kind` (content_length: `length` bytes; chunked:
// decoded with `dec`, which must be reset; until_close: until EOF). With
// `chunk_out` the destination gets it chunk-coded (trailers kept when the
// source was chunked); otherwise it gets the payload as is. `prefix` (a head)
// is written in the same write as the first body bytes. `max_bytes` 0 means
// no limit; over it, nothing more is written and too_large is returned.
net::awaitable<RelayOutcome> relay_body(RelayEnds ends, http1::BodyKind kind, uint64_t length,
                                        bool chunk_out, http1::ChunkedDecoder& dec,
                                        uint64_t max_bytes, std::string_view prefix);

}  // namespace gh::proxy
