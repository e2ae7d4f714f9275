// Streaming compressors for content codings (RFC 9110 section 8.4.1): one
// Encoder per response, fed the payload as it passes and flushed whenever
// the proxy writes to the client, so a slow or endless body (server-sent
// events, long polls) reaches the client as it comes. The coding itself is
// the libraries' (zlib, brotli, zstd); this is only the streaming around it.
//
// Memory per encoder at the default levels, measured as glibc heap in use
// (mallinfo2; ZSTD_sizeof_CCtx agrees for zstd) while compressing 1 MiB of
// HTML in 16 KiB pieces:
//   gzip 5, window 2^15, memLevel 8:  262 KiB at any level, all allocated
//                                     by make() and kept by reset()
//   br 5, window 2^18:                1.8 MiB while compressing (1.3 MiB
//                                     after the first 16 KiB); 6.5 KiB when
//                                     made or reset (brotli allocates late)
//   zstd 3, window 2^19:              2.0 MiB from the first write on, kept
//                                     by reset()
// The other accepted levels: br 0..6 0.1 to 2.8 MiB, zstd 1..8 1.3 to 7.3
// MiB. A response holds its encoder until its body ends, a slow client's
// too: 2 MiB where an uncompressed relay holds a 16 KiB buffer, so how many
// responses compress at once wants a bound of its own.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "coding/negotiate.h"

namespace gh::coding {

// Levels a coding accepts: gzip 1..9, br 0..6, zstd 1..8: those fit for
// compressing many responses at once. Refused: br 7..11 (7..9 take 9 to
// 33 MiB per encoder, 10 and 11 compress at 1 to 2 MB/s), zstd 9..19 (13 to
// 82 MiB even with our window: their tables do not shrink with it), zstd's
// ultra (20..22) and negative levels. False for identity.
bool level_ok(Coding c, int level);

// The level used for -1: gzip 5, br 5, zstd 3 (the measurements behind
// them are in encoder.cc). 0 for identity.
int default_level(Coding c);

// Not thread-safe; one response at a time. After finish() (or a false from
// write/finish) only reset() or destruction is allowed.
class Encoder {
 public:
  // An encoder for `c` at `level` (-1: default_level(c)). nullptr for
  // identity, a level level_ok() refuses, or when the library cannot
  // allocate its state.
  static std::unique_ptr<Encoder> make(Coding c, int level = -1);

  Encoder() = default;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  virtual ~Encoder();

  // Compresses `in` (any size, empty too), appending the output to `out`.
  // Without `flush` the library may hold bytes back to compress better;
  // with it, everything written so far comes out so the client can decode
  // it now (zlib Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush), at a
  // cost of a few bytes and some ratio per flush. False on a library error
  // or after finish().
  virtual bool write(std::string_view in, std::string& out, bool flush) = 0;

  // Ends the coded stream (gzip's CRC-32 and size, brotli's last block,
  // zstd's frame end with its checksum), appending to `out`. False on a
  // library error or when already finished.
  virtual bool finish(std::string& out) = 0;

  // Makes the encoder ready for a new response with the same coding and
  // level, whatever state it was left in. False when the library fails
  // (then drop the encoder).
  virtual bool reset() = 0;

  virtual Coding coding() const = 0;
  // The level in use (never -1).
  virtual int level() const = 0;
};

// A per-thread pool of idle encoders, so a busy worker does not set up a
// compressor's state for every response: take_encoder() hands out an idle
// encoder of that coding and level or makes one (nullptr as make());
// give_back() resets it and keeps it if fewer than kIdlePerCoding of its
// coding are idle, else frees it. nullptr also past kBusyBudgetBytes. Encoders go back on the thread that took
// them. Idle memory per thread, at the default levels: at most 4 x 262 KiB
// (gzip) + 4 x 2.0 MiB (zstd) + 4 x 6.5 KiB (br, whose reset frees), about
// 9 MiB; reusing a zstd encoder saves its 2 MiB of allocation and page
// faults per response.
inline constexpr size_t kIdlePerCoding = 4;
// Encoders one thread may have handed out at once, by the memory they hold
// (a zstd encoder about 2 MiB, br 1.8, gzip 0.26): beyond it take_encoder()
// returns nullptr and the response goes out uncoded, so a crowd of slow
// clients of compressed responses cannot take the memory of the host.
// 64 MiB is 32 zstd or 250 gzip streams in flight per worker.
inline constexpr size_t kBusyBudgetBytes = 64u << 20;
std::unique_ptr<Encoder> take_encoder(Coding c, int level = -1);
void give_back(std::unique_ptr<Encoder> e);

// Frees all but `keep` idle encoders per coding of this thread's pool: after
// a burst has passed, idle memory need not hold what only the burst needed.
void trim_encoders(size_t keep);

}  // namespace gh::coding
