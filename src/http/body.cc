#include "http/body.h"

namespace gh::http {

Awaitable<RelayOutcome> relay_body(BodySource& src, BodySink& dst, uint64_t max_bytes) {
  RelayOutcome out;
  for (;;) {
    BodyBatch b;
    RelayStatus st = src.take(b);
    if (st != RelayStatus::done) {
      out.status = st;
      out.detail = src.detail();
      co_return out;
    }
    if (max_bytes && out.bytes + b.payload > max_bytes) {
      out.status = RelayStatus::too_large;
      co_return out;
    }
    if (b.n > 0 || b.end || dst.holds_head()) {
      out.wrote = true;
      const bool awaited = co_await dst.write(b);
      if (!awaited) {
        out.status = RelayStatus::dst_error;
        out.detail = "write failed";
        co_return out;
      }
    }
    src.consume(b);
    out.bytes += b.payload;
    if (b.end) co_return out;
    if (b.more) continue;
    st = co_await src.fill();
    if (st != RelayStatus::done) {
      out.status = st;
      out.detail = src.detail();
      co_return out;
    }
  }
}

}  // namespace gh::http
