#include "proxy/compress_sink.h"

#include "core/log.h"

namespace gh::proxy {

CompressSink::~CompressSink() {
  // An encoder left mid-stream (the client went away) is reset by the pool.
  if (enc_) coding::give_back(std::move(enc_));
}

net::awaitable<bool> CompressSink::write(const http::BodyBatch& b) {
  out_.clear();
  bool ok = !finished_;
  for (size_t i = 0; ok && i < b.n; ++i) ok = enc_->write(b.pieces[i], out_, false);
  // Each batch is flushed: the client can decode everything sent so far.
  if (ok && b.end) ok = enc_->finish(out_);
  else if (ok && b.n > 0) ok = enc_->write({}, out_, true);
  if (!ok) {
    GH_WARN("compress: %.*s encoder failed; the response is cut",
            static_cast<int>(coding::token(enc_->coding()).size()), coding::token(enc_->coding()).data());
    co_return false;
  }
  if (b.end) finished_ = true;
  http::BodyBatch ob;
  ob.add(out_);
  ob.end = b.end;
  ob.trailers = b.trailers;
  bytes_out_ += ob.payload;
  const bool written = co_await inner_.write(ob);
  // (Large outputs are not kept between batches.)
  if (out_.capacity() > 256 * 1024) std::string().swap(out_);
  co_return written;
}

}  // namespace gh::proxy
