// HTML-like text for the demo origin's /text/N: deterministic, endless,
// generated as it is sent (never a whole body in memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace demo {

// One endless HTML-like document: a head, then <section>s of an <h2>,
// paragraphs and lists, whose words come from a fixed list of 240
// English and technical words, drawn by a seeded splitmix64 (skewed towards
// the first words, as real text reuses its common words) with links,
// emphasis and code spans between them. Every TextGen yields the same bytes,
// so /text/N is the first N bytes of that document whatever N is, and
// clients can compare two fetches byte for byte. It compresses like a real
// page, not like a repeated pattern: about 4x with gzip -5 (3.3x at -1,
// 4.1x at -9), 4.2x with zstd -3, on one x86-64 machine.
class TextGen {
 public:
  // The next n bytes of the document into dst.
  void fill(char* dst, size_t n);

 private:
  uint64_t next();
  // Uniform in [0, n): the high half of next() * n (Lemire), no division.
  size_t below(size_t n) { return size_t((unsigned __int128)next() * n >> 64); }
  std::string_view word();
  void sentence();
  void section();

  std::string buf_;   // generated and not yet handed out: [pos_, size)
  size_t pos_ = 0;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
  uint64_t sections_ = 0;
  bool started_ = false;
};

}  // namespace demo
