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
#include "net/stream.h"
#include "http/body.h"
#include "proxy/min_rate.h"

namespace gh::proxy {

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

 private:
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

 private:
  net::Stream& stream_;
  net::Deadline& dl_;
  std::chrono::milliseconds timeout_;
  bool chunk_out_;
  std::string_view head_;
};

}  // namespace gh::proxy
