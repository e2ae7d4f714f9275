// HTTP/1 bodies on a byte stream (RFC 9112 section 6): a source that removes
// the framing (Content-Length, chunked, until close) from bytes read into a
// buffer, and a sink that writes payload as is or chunk-coded, gathered into
// one write per batch together with a pending head.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "http1/chunked.h"
#include "http1/parser.h"
#include "net/deadlines.h"
#include "net/pipe_pair.h"
#include "net/stream.h"
#include "http/body.h"
#include "proxy/min_rate.h"

namespace gh::proxy {

class Http1BodySink;

class Http1BodySource final : public http::BodySource {
 public:
  // Reads from `stream` into `buf`, whose first `skip` bytes are not body
  // (a head still in use) and are released with the first consume().
  // `kind`/`length` as parsed; `dec` must be reset for chunked. Each fill()
  // waits at most `timeout`.
  Http1BodySource(net::Stream& stream, core::Buffer& buf, net::Deadline& deadline,
                  std::chrono::milliseconds timeout, http1::BodyKind kind, uint64_t length,
                  http1::ChunkedDecoder& dec, size_t skip = 0);
  // Minimum rate in bytes per second (0: none): see MinRate.
  void min_rate(uint64_t bytes_per_s, bool from_first_byte) { rate_.set(bytes_per_s, from_first_byte); }

  http::RelayStatus take(http::BodyBatch& b) override;
  void consume(const http::BodyBatch& b) override;
  net::awaitable<http::RelayStatus> fill() override;
  void cancel() override { stream_.cancel(); }
  const char* detail() const override { return detail_; }

  // True when the rest of this body may move with splice(2): a Content-
  // Length body on plain TCP with at least kSpliceMinBody bytes (body_http1.cc)
  // not yet read, splice not turned off (net::splice_allowed()), and (`max_bytes`
  // not 0) no more than `max_bytes` left, held or not (a larger body is
  // the copy path's to refuse). A few compares.
  bool splice_worth(uint64_t max_bytes = 0) const;
  // `src` as an Http1BodySource, else null.
  static Http1BodySource* of(http::BodySource& src) { return dynamic_cast<Http1BodySource*>(&src); }

 private:
  friend net::awaitable<http::RelayOutcome> relay_spliced(Http1BodySource&, Http1BodySink&,
                                                          net::PipeCache&);
  net::Stream& stream_;
  core::Buffer& buf_;
  net::Deadline& dl_;
  std::chrono::milliseconds timeout_;
  http1::BodyKind kind_;
  uint64_t remaining_;
  http1::ChunkedDecoder& dec_;
  size_t skip_;
  bool ended_;
  MinRate rate_;
  const char* detail_ = "";
};

class Http1BodySink final : public http::BodySink {
 public:
  // Writes to `stream`; each write must finish within `timeout`. With
  // `chunk_out` the payload goes chunk-coded (trailers kept), else as is.
  Http1BodySink(net::Stream& stream, net::Deadline& deadline, std::chrono::milliseconds timeout,
                bool chunk_out)
      : stream_(stream), dl_(deadline), timeout_(timeout), chunk_out_(chunk_out) {}
  // `head` goes out in the same write as the first payload (kept as a view:
  // it must live until then).
  void hold_head(std::string_view head) { head_ = head; }

  net::awaitable<bool> write(const http::BodyBatch& b) override;
  bool holds_head() const override { return !head_.empty(); }

  // `sink` as an Http1BodySink that writes payload as is to plain TCP (no
  // chunk coding, no TLS, nothing wrapped around it: a compressor or a
  // cache store is another sink), else null.
  static Http1BodySink* spliceable(http::BodySink& sink);

 private:
  friend net::awaitable<http::RelayOutcome> relay_spliced(Http1BodySource&, Http1BodySink&,
                                                          net::PipeCache&);
  net::Stream& stream_;
  net::Deadline& dl_;
  std::chrono::milliseconds timeout_;
  bool chunk_out_;
  std::string_view head_;
};

// Relays `src` to `dst` as http::relay_body() does, for a pair that
// src.splice_worth() and Http1BodySink::spliceable() accepted: the head and
// the body bytes already read go in one write, then the rest moves socket
// -> pipe -> socket with splice(2) (a pipe lent by `pipes`, the worker's), never
// more than the Content-Length from the source. Same outcomes, timeouts
// (the source's per wait with its minimum rate, the sink's per write) and
// byte counts as the copy path; where the kernel refuses splice (EINVAL,
// ENOSYS) or no pipe can be made, the copy path carries on from there.
net::awaitable<http::RelayOutcome> relay_spliced(Http1BodySource& src, Http1BodySink& dst,
                                                 net::PipeCache& pipes);

// relay_spliced() where the pair allows it, else http::relay_body(src, dst,
// max_bytes). Not a coroutine itself (it returns the one that runs), so a
// caller's frame holds nothing more than for http::relay_body(). The
// BodySource overload first checks that `src` is an Http1BodySource.
net::awaitable<http::RelayOutcome> relay_body_maybe_spliced(Http1BodySource& src, http::BodySink& dst,
                                                            uint64_t max_bytes, net::PipeCache& pipes);
net::awaitable<http::RelayOutcome> relay_body_maybe_spliced(http::BodySource& src, http::BodySink& dst,
                                                            uint64_t max_bytes, net::PipeCache& pipes);

}  // namespace gh::proxy
