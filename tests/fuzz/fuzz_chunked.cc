// libFuzzer target: http1::ChunkedDecoder.
//
// Input layout: byte 0 chooses the mode, the rest is the body (or, in
// generator mode, the recipe for one).
//   bits 0-5: where to split the body in two (scaled to its length)
//   bit 6:    generator mode (below)
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
//
// Soundness: whenever the decoder says done, an independent strict reader of
// the grammar in chunked.h must accept exactly the consumed bytes and find
// the same data and trailers.
//
// Generator mode: the rest of the input describes chunks (sizes, data,
// spelling of the size, extensions, trailers), which are encoded validly;
// the decoder must accept the result with exactly that data. This finds
// valid bodies the decoder wrongly refuses, which mutating bytes rarely does.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "http1/chunked.h"

#include "fuzz_check.h"

using gh::http1::ChunkedDecoder;


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


bool tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}
bool vchar_or_obs(unsigned char c) { return (c >= 0x21 && c <= 0x7e) || c >= 0x80; }
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A strict reader of the chunked grammar as chunked.h states it, written
// without looking at the decoder: true when `b` is exactly one complete body.
bool reference_decode(std::string_view b, std::string& data, std::string& trailers) {
  constexpr size_t kMaxLine = 4096;
  size_t p = 0;
  auto crlf = [&] {
    if (p + 1 >= b.size() || b[p] != '\r' || b[p + 1] != '\n') return false;
    p += 2;
    return true;
  };
  for (;;) {
    const size_t line = p;
    uint64_t size = 0;
    size_t digits = 0;
    while (p < b.size() && hexval(b[p]) >= 0) {
      if (++digits > 16) return false;
      size = size * 16 + uint64_t(hexval(b[p++]));
    }
    if (digits == 0) return false;
    while (p < b.size() && b[p] == ';') {
      const size_t name = ++p;
      while (p < b.size() && tchar(b[p])) ++p;
      if (p == name) return false;
      if (p < b.size() && b[p] == '=') {
        ++p;
        if (p < b.size() && b[p] == '"') {
          ++p;
          for (;;) {
            if (p >= b.size()) return false;
            const unsigned char c = b[p];
            if (c == '"') break;
            if (c == '\\') {
              if (++p >= b.size()) return false;
              const unsigned char q = b[p];
              if (!(q == '\t' || q == ' ' || vchar_or_obs(q))) return false;
            } else if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                         (c >= 0x5d && c <= 0x7e) || c >= 0x80)) {
              return false;
            }
            ++p;
          }
          ++p;
        } else {
          const size_t val = p;
          while (p < b.size() && tchar(b[p])) ++p;
          if (p == val) return false;
        }
      }
    }
    if (p - line > kMaxLine) return false;
    if (!crlf()) return false;
    if (size == 0) break;
    if (b.size() - p < size) return false;
    data.append(b.substr(p, size_t(size)));
    p += size_t(size);
    if (!crlf()) return false;
  }
  // Trailer section: field lines, then an empty line.
  for (;;) {
    if (crlf()) return p == b.size();
    const size_t line = p;
    const size_t name = p;
    while (p < b.size() && tchar(b[p])) ++p;
    if (p == name || p >= b.size() || b[p] != ':') return false;
    const std::string_view n = b.substr(name, p - name);
    std::string lower(n);
    for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "host" ||
        lower == "connection")
      return false;
    ++p;
    while (p < b.size() && (b[p] == ' ' || b[p] == '\t')) ++p;
    const size_t v = p;
    while (p < b.size() && (b[p] == ' ' || b[p] == '\t' || vchar_or_obs(b[p]))) ++p;
    size_t ve = p;
    while (ve > v && (b[ve - 1] == ' ' || b[ve - 1] == '\t')) --ve;
    if (p - line > kMaxLine) return false;
    if (!crlf()) return false;
    trailers.append(n).append(": ").append(b.substr(v, ve - v)).append("\r\n");
  }
}

// Builds a valid chunked body from `recipe`; returns the data it carries.
std::string generate(std::string_view recipe, std::string& body, std::string& trailers) {
  static const char* const kExt[] = {";a", ";a=b", ";q=\"x y\"", ";q=\"\\\"\\\\\"", ";n=1;m", ";A-b=\"\xff\""};
  static const char* const kTrailer[] = {"X-Checksum: abc", "grpc-status:0", "X-Empty:", "X-Sp: \t v \t",
                                         "X-Obs: \x80\xff"};
  static const char* const kTrailerOut[] = {"X-Checksum: abc", "grpc-status: 0", "X-Empty: ", "X-Sp: v",
                                            "X-Obs: \x80\xff"};
  std::string data;
  size_t i = 0;
  auto byte = [&]() -> uint8_t { return i < recipe.size() ? uint8_t(recipe[i++]) : 0; };
  auto size_line = [&](size_t size, uint8_t style) {
    char hex[32];
    std::snprintf(hex, sizeof hex, (style & 1) ? "%zX" : "%zx", size);
    if (style & 2) body += "00";
    body += hex;
    if (style & 4) body += kExt[(style >> 3) % 6];
    body += "\r\n";
  };
  while (i < recipe.size()) {
    const uint8_t c = byte();
    if (c == 0) break;
    const size_t len = (c & 0x1f) + ((c & 0x20) ? 100 : 0);  // 1..131 with the zero case cut out
    if (len == 0) continue;
    const uint8_t style = byte();
    std::string chunk;
    for (size_t k = 0; k < len; ++k) chunk.push_back(char(byte() ^ 0x5a));
    size_line(chunk.size(), style);
    body += chunk;
    body += "\r\n";
    data += chunk;
  }
  size_line(0, byte());
  const uint8_t t = byte();
  for (int k = 0; k < 5; ++k) {
    if (!(t & (1 << k))) continue;
    body.append(kTrailer[k]).append("\r\n");
    trailers.append(kTrailerOut[k]).append("\r\n");
  }
  body += "\r\n";
  return data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t max_trailer = (mode & 0x80) ? 64 : 16 * 1024;

  std::string generated, want_data, want_trailers;
  const bool gen = mode & 0x40;
  if (gen) {
    want_data = generate(body, generated, want_trailers);
    body = generated;
    max_trailer = 16 * 1024;
  }
  const size_t n = body.size();
  const size_t split = (mode & 0x3f) * n / 0x3f;

  ChunkedDecoder d(max_trailer);
  const size_t whole_cuts[1] = {n};
  const Outcome whole = feed(d, body, whole_cuts, 1);
  if (gen) {
    FUZZ_CHECK(whole.end == End::done);
    FUZZ_CHECK(whole.used == n);
    FUZZ_CHECK(whole.data == want_data);
    FUZZ_CHECK(whole.trailers == want_trailers);
  }
  if (whole.end == End::done) {
    FUZZ_CHECK(whole.used <= n);
    FUZZ_CHECK(whole.data.size() <= whole.used);
    std::string ref_data, ref_trailers;
    FUZZ_CHECK(reference_decode(body.substr(0, whole.used), ref_data, ref_trailers));
    FUZZ_CHECK(ref_data == whole.data);
    FUZZ_CHECK(ref_trailers == whole.trailers);
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
