// libFuzzer target: http1::ChunkedDecoder.
//
// Input layout: byte 0 chooses how the rest is fed; the rest is the body.
//   bits 0-6: where to split the body in two (scaled to its length)
//   bit 7:    a small trailer budget (64 bytes) instead of the default 16 KiB
//
// The body is decoded three ways, the way a connection would feed it: all at
// once, in two pieces split at the chosen position, and (for short bodies)
// one byte at a time. A caller keeps the bytes a step did not consume and
// appends what arrives next. All three must give the same data, the same
// end state (done / error / needs more), the same bytes used when done and
// the same trailers. Every step must consume no more than it was given, and
// its data must be a view inside the consumed bytes. After done or error the
// decoder stays there.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http1/chunked.h"

using gh::http1::ChunkedDecoder;

#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace {

enum class End { more, done, error };

struct Outcome {
  std::string data;
  End end = End::more;
  size_t used = 0;  // bytes of the body consumed in total
  std::string trailers;
};

// Feeds `body` in pieces ending at the offsets in `cuts` (ascending, the last
// one is body.size()). Unconsumed bytes are kept and fed again with the next piece.
Outcome feed(ChunkedDecoder& d, std::string_view body, const size_t* cuts, size_t ncuts) {
  Outcome o;
  std::string pending;
  size_t from = 0;
  for (size_t c = 0; c < ncuts && o.end == End::more; ++c) {
    pending.append(body.substr(from, cuts[c] - from));
    from = cuts[c];
    for (;;) {
      // A fresh heap copy of exactly the pending bytes, so ASan sees any
      // read past what the decoder was given.
      const size_t n = pending.size();
      char* buf = new char[n > 0 ? n : 1];
      pending.copy(buf, n);
      const std::string_view in(buf, n);
      const ChunkedDecoder::Step s = d.next(in);
      FUZZ_CHECK(s.consumed <= n);
      if (!s.data.empty()) {
        FUZZ_CHECK(s.data.data() >= buf && s.data.data() + s.data.size() <= buf + s.consumed);
        o.data.append(s.data);
      }
      delete[] buf;
      if (s.error) {
        FUZZ_CHECK(s.data.empty() && !s.done);
        FUZZ_CHECK(s.detail != nullptr && s.detail[0] != '\0');
        o.end = End::error;
        break;
      }
      pending.erase(0, s.consumed);
      o.used += s.consumed;
      if (s.done) {
        o.end = End::done;
        break;
      }
      if (s.consumed == 0) break;  // needs more input
    }
  }
  if (o.end == End::done) {
    o.trailers = d.trailers();
    // Done is sticky and consumes nothing more.
    const ChunkedDecoder::Step again = d.next(pending);
    FUZZ_CHECK(again.done && !again.error && again.consumed == 0 && again.data.empty());
  } else if (o.end == End::error) {
    const ChunkedDecoder::Step again = d.next("0\r\n\r\n");
    FUZZ_CHECK(again.error && !again.done && again.consumed == 0 && again.data.empty());
  }
  return o;
}

void check_equal(const Outcome& a, const Outcome& b) {
  FUZZ_CHECK(a.end == b.end);
  FUZZ_CHECK(a.data == b.data);
  if (a.end == End::done) {
    FUZZ_CHECK(a.used == b.used);
    FUZZ_CHECK(a.trailers == b.trailers);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t n = body.size();
  const size_t max_trailer = (mode & 0x80) ? 64 : 16 * 1024;
  const size_t split = (mode & 0x7f) * n / 0x7f;

  ChunkedDecoder d(max_trailer);
  const size_t whole_cuts[1] = {n};
  const Outcome whole = feed(d, body, whole_cuts, 1);
  if (whole.end == End::done) {
    FUZZ_CHECK(whole.used <= n);
    FUZZ_CHECK(whole.data.size() <= whole.used);
  }

  // The same decoder after reset() must behave like a new one.
  d.reset();
  const size_t two_cuts[2] = {split, n};
  check_equal(whole, feed(d, body, two_cuts, 2));

  if (n <= 256) {
    ChunkedDecoder fresh(max_trailer);
    size_t bytes[256];
    for (size_t i = 0; i < n; ++i) bytes[i] = i + 1;
    check_equal(whole, feed(fresh, body, bytes, n));
  }
  return 0;
}
