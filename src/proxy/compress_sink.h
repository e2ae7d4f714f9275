// A response body compressed on its way to the client (the compress policy):
// each batch the backend's body gives is coded and flushed at once, so a
// stream (server-sent events, long polls, gRPC-web) is never held back, then
// handed to the downstream's sink. Memory: the encoder (see coding/encoder.h)
// plus one batch's output.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "coding/encoder.h"
#include "http/body.h"
#include "net/asio.h"

namespace gh::proxy {

class CompressSink final : public http::BodySink {
 public:
  // `enc` comes from coding::take_encoder and goes back to the pool when
  // this sink ends.
  CompressSink(http::BodySink& inner, std::unique_ptr<coding::Encoder> enc)
      : inner_(inner), enc_(std::move(enc)) {}
  ~CompressSink() override;
  CompressSink(const CompressSink&) = delete;
  CompressSink& operator=(const CompressSink&) = delete;

  // False: the encoder failed (logged) or the inner sink did.
  net::awaitable<bool> write(const http::BodyBatch& b) override;
  bool holds_head() const override { return inner_.holds_head(); }
  // Coded bytes handed to the downstream so far.
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  http::BodySink& inner_;
  std::unique_ptr<coding::Encoder> enc_;
  std::string out_;
  uint64_t bytes_out_ = 0;
  bool finished_ = false;
};

}  // namespace gh::proxy
