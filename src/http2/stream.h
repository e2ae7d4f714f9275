// Per-stream state of a Connection (internal to src/http2).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http2/header_block.h"
#include "http2/out_fields.h"

namespace gh::http2 {

// Bytes waiting to go out as DATA, oldest first. Appends at the back,
// takes from the front; the front offset is compacted when it passes half
// the buffer, so the memory stays within twice the bytes held.
class SendQueue {
 public:
  size_t size() const { return buf_.size() - head_; }
  bool empty() const { return size() == 0; }
  void append(std::string_view b) { buf_.append(b); }
  std::string_view front(size_t n) const { return std::string_view(buf_).substr(head_, n); }
  void pop(size_t n) {
    head_ += n;
    if (head_ == buf_.size()) {
      buf_.clear();
      head_ = 0;
      if (buf_.capacity() > 64 * 1024) std::string().swap(buf_);
    } else if (head_ > buf_.size() / 2) {
      buf_.erase(0, head_);
      head_ = 0;
    }
  }

 private:
  std::string buf_;
  size_t head_ = 0;
};

struct Stream {
  int32_t id = 0;

  // Receiving.
  HeaderBlock block;          // the header block being decoded
  bool oversized = false;     // block passed max_header_list_bytes: not stored
  bool known = false;         // the caller was told of the stream (head/refused event)
  bool refused = false;       // request refused (431): its DATA is dropped
  bool got_head = false;      // client: the final response head arrived
  bool peer_reset = false;    // the peer sent RST_STREAM
  uint32_t local_error = 0;   // we reset it for the peer's fault: the code stream_closed reports
  uint64_t unconsumed = 0;    // delivered in data events, not yet consume()d

  // Sending.
  bool head_sent = false;     // final head submitted (server: response; client: request)
  bool provider = false;      // a data provider is attached (head without END_STREAM)
  bool deferred = false;      // the provider answered NGHTTP2_ERR_DEFERRED
  bool out_eof = false;       // the body's end was submitted
  bool app_reset = false;     // we reset it because the caller (or the codec for the caller) asked
  bool blocked = false;       // submit_data came up short; stream_writable owed
  SendQueue out;
  std::unique_ptr<OutFields> trailers;  // to send once `out` is empty
};

}  // namespace gh::http2
