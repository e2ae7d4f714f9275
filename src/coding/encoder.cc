#include "coding/encoder.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <new>

namespace gh::coding {
namespace {

// Output room to offer a library per call: about half the input (text
// compresses 3-5x; a flush adds a few bytes), at least 256 bytes for footers
// and flush markers, at most 64 KiB (the loops call again when it fills).
// `out` grows by resize(), which zero-fills: std::string cannot grow
// uninitialized before C++23, and a memset is cheap next to compression.
size_t room_for(size_t in) { return std::clamp<size_t>(in / 2 + 256, 256, 64 * 1024); }

// Largest input handed to zlib at once: its counters are 32-bit.
constexpr size_t kMaxZlibIn = size_t{1} << 30;

// gzip (RFC 1952) through zlib's deflate. windowBits 15 (32 KiB, the most
// deflate has) plus 16 asks zlib for the gzip header and trailer; memLevel 8
// is zlib's default (9 would cost 128 KiB more per encoder).
class GzipEncoder final : public Encoder {
 public:
  explicit GzipEncoder(int level) : level_(level) {}
  ~GzipEncoder() override {
    if (ready_) deflateEnd(&z_);
  }
  bool init() {
    ready_ = deflateInit2(&z_, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    return ready_;
  }

  bool write(std::string_view in, std::string& out, bool flush) override {
    if (done_) return false;
    do {
      std::string_view part = in.substr(0, kMaxZlibIn);
      in.remove_prefix(part.size());
      bool last = in.empty();
      if (part.empty() && !flush) return true;
      if (!run(part, out, last && flush ? Z_SYNC_FLUSH : Z_NO_FLUSH)) return fail();
    } while (!in.empty());
    return true;
  }
  bool finish(std::string& out) override {
    if (done_) return false;
    bool ok = run({}, out, Z_FINISH);
    done_ = true;
    return ok;
  }
  bool reset() override {
    done_ = false;
    return deflateReset(&z_) == Z_OK;
  }
  Coding coding() const override { return Coding::gzip; }
  int level() const override { return level_; }

 private:
  bool fail() {
    done_ = true;
    return false;
  }
  // One deflate() call per output room until `mode` is satisfied: all input
  // taken (Z_NO_FLUSH), the flush complete (Z_SYNC_FLUSH: deflate returns
  // with room to spare), the stream ended (Z_FINISH: Z_STREAM_END).
  bool run(std::string_view in, std::string& out, int mode) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    size_t used = out.size();
    size_t room = room_for(in.size());
    bool ok = true;
    for (;;) {
      out.resize(used + room);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z_.avail_out = static_cast<uInt>(room);
      int rc = deflate(&z_, mode);
      used += room - z_.avail_out;
      if (rc == Z_STREAM_END) break;
      // Z_BUF_ERROR: no progress possible, e.g. a second flush with no new
      // input in between; not an error unless the stream must end.
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        ok = false;
        break;
      }
      if (z_.avail_out == 0) {
        room = std::min<size_t>(room * 2, 64 * 1024);
        continue;   // output full: there may be more
      }
      if (mode == Z_FINISH) {
        if (rc == Z_OK) continue;   // not ended yet
        ok = false;                 // no progress: calling again would loop
        break;
      }
      break;   // input consumed and, with Z_SYNC_FLUSH, the flush complete
    }
    out.resize(used);
    return ok;
  }

  z_stream z_{};
  int level_;
  bool ready_ = false;
  bool done_ = false;
};

// br (RFC 7932). The window (lgwin) is 2^18 rather than brotli's default
// 2^22: at quality 5 that is 1.8 MiB per encoder instead of 9.3 MiB, for
// 1.2% of ratio (2^19: 2.3 MiB, +1%; 2^16: 0.9 MiB, -3.3%; measured on the
// sample of default_level()).
class BrotliEncoder final : public Encoder {
 public:
  static constexpr int kLgWin = 18;
  explicit BrotliEncoder(int level) : level_(level) {}
  ~BrotliEncoder() override {
    if (s_) BrotliEncoderDestroyInstance(s_);
  }
  bool init() {
    if (s_) BrotliEncoderDestroyInstance(s_);
    s_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
    done_ = false;
    return s_ && BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(level_)) &&
           BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, kLgWin);
  }

  bool write(std::string_view in, std::string& out, bool flush) override {
    if (done_) return false;
    if (in.empty() && !flush) return true;
    if (!run(in, out, flush ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_PROCESS)) return fail();
    return true;
  }
  bool finish(std::string& out) override {
    if (done_) return false;
    bool ok = run({}, out, BROTLI_OPERATION_FINISH);
    done_ = true;
    return ok;
  }
  // Brotli has no reset: a new instance. It allocates its buffers on the
  // first compression, so an idle (reset) encoder costs 6.5 KiB.
  bool reset() override { return init(); }
  Coding coding() const override { return Coding::br; }
  int level() const override { return level_; }

 private:
  bool fail() {
    done_ = true;
    return false;
  }
  // Output is taken from brotli's own buffer (TakeOutput), so no room is
  // needed in `out` ahead of time. The loop ends when the input is taken
  // and nothing is pending (PROCESS, FLUSH: a flush must be repeated with
  // the same input until then) or the stream is finished (FINISH).
  bool run(std::string_view in, std::string& out, BrotliEncoderOperation op) {
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    for (;;) {
      size_t avail_out = 0;
      if (!BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, nullptr, nullptr)) {
        return false;
      }
      while (BrotliEncoderHasMoreOutput(s_)) {
        size_t n = 0;   // 0: all there is
        const uint8_t* p = BrotliEncoderTakeOutput(s_, &n);
        out.append(reinterpret_cast<const char*>(p), n);
      }
      if (op == BROTLI_OPERATION_FINISH) {
        if (BrotliEncoderIsFinished(s_)) return true;
      } else if (avail_in == 0) {
        return true;
      }
    }
  }

  BrotliEncoderState* s_ = nullptr;
  int level_;
  bool done_ = false;
};

// zstd (RFC 8878). The window is 2^19 (512 KiB) rather than the 2^21
// level 3 takes for a stream of unknown size: 2.0 MiB per encoder instead
// of 3.5 MiB, for 0.7% of ratio (2^18: 1.7 MiB, -1.4%). RFC 9659 caps the
// window of the zstd content coding at 8 MiB, which we are far below. The
// frame carries its XXH64 checksum: the client's decoder catches a body
// corrupted on the way, for hashing at several GB/s.
class ZstdEncoder final : public Encoder {
 public:
  static constexpr int kWindowLog = 19;
  explicit ZstdEncoder(int level) : level_(level) {}
  ~ZstdEncoder() override { ZSTD_freeCCtx(c_); }
  bool init() {
    c_ = ZSTD_createCCtx();
    return c_ && !ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, level_)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_windowLog, kWindowLog)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_checksumFlag, 1));
  }

  bool write(std::string_view in, std::string& out, bool flush) override {
    if (done_) return false;
    if (in.empty() && !flush) return true;
    if (!run(in, out, flush ? ZSTD_e_flush : ZSTD_e_continue)) return fail();
    return true;
  }
  bool finish(std::string& out) override {
    if (done_) return false;
    bool ok = run({}, out, ZSTD_e_end);
    done_ = true;
    return ok;
  }
  // Keeps the parameters and the workspace.
  bool reset() override {
    done_ = false;
    return !ZSTD_isError(ZSTD_CCtx_reset(c_, ZSTD_reset_session_only));
  }
  Coding coding() const override { return Coding::zstd; }
  int level() const override { return level_; }

 private:
  bool fail() {
    done_ = true;
    return false;
  }
  // Until the input is taken (e_continue) or nothing is left to flush
  // (e_flush, e_end: compressStream2 returns 0).
  bool run(std::string_view in, std::string& out, ZSTD_EndDirective mode) {
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    size_t used = out.size();
    size_t room = room_for(in.size());
    bool ok = true;
    for (;;) {
      out.resize(used + room);
      ZSTD_outBuffer ob{out.data() + used, room, 0};
      size_t rc = ZSTD_compressStream2(c_, &ob, &ib, mode);
      used += ob.pos;
      if (ZSTD_isError(rc)) {
        ok = false;
        break;
      }
      if (mode == ZSTD_e_continue ? ib.pos == ib.size : rc == 0) break;
      if (ob.pos == ob.size) room = std::min<size_t>(room * 2, 64 * 1024);
    }
    out.resize(used);
    return ok;
  }

  ZSTD_CCtx* c_ = nullptr;
  int level_;
  bool done_ = false;
};

template <class E>
std::unique_ptr<Encoder> make_one(int level) {
  std::unique_ptr<E> e(new (std::nothrow) E(level));
  if (!e || !e->init()) return nullptr;
  return e;
}

struct Pool {
  std::array<std::array<std::unique_ptr<Encoder>, kIdlePerCoding>, kCodings> idle;
  std::array<size_t, kCodings> n{};
  size_t busy_bytes = 0;   // encoders handed out and not given back, by kEncoderBytes
};

// What one encoder holds while it codes a response, at the default levels
// (measured: see default_level): the in-flight budget counts these.
size_t encoder_bytes(Coding c) {
  switch (c) {
    case Coding::gzip: return 262 * 1024;
    case Coding::br: return 1843 * 1024;
    case Coding::zstd: return 2048 * 1024;
    case Coding::identity: break;
  }
  return 0;
}
Pool& pool() {
  thread_local Pool p;
  return p;
}

}  // namespace

bool level_ok(Coding c, int level) {
  switch (c) {
    case Coding::gzip: return level >= 1 && level <= 9;
    case Coding::br: return level >= 0 && level <= 6;
    case Coding::zstd: return level >= 1 && level <= 8;
    case Coding::identity: break;
  }
  return false;
}

// Defaults for compressing on the fly, where every byte costs CPU while the
// client waits. Measured on 1 MiB of HTML (the Rust book's print.html)
// written in 16 KiB pieces with a flush after each, ratio and speed on one
// x86-64 core (-O2, Debian 12's zlib 1.2.13, brotli 1.0.9, zstd 1.5.4):
//   gzip 5: 4.08, 53 MB/s. 6 (zlib's default) is 2% smaller at 34 MB/s,
//           9 3% smaller at 23; 4 is 4% larger at 76, 1 23% larger at 120.
//   br 5:   4.51, 45-53 MB/s. 4 is 8% larger at 80 MB/s, 6 2% smaller at
//           41: the step from 4 to 5 gains more than any above it, and at
//           5 br is 10% smaller than gzip for the same CPU.
//   zstd 3: 4.13, 245 MB/s (zstd's own default); 1 is 10% larger at 310,
//           5 6% smaller at 130.
int default_level(Coding c) {
  switch (c) {
    case Coding::gzip: return 5;
    case Coding::br: return 5;
    case Coding::zstd: return 3;
    case Coding::identity: break;
  }
  return 0;
}

Encoder::~Encoder() = default;

std::unique_ptr<Encoder> Encoder::make(Coding c, int level) {
  if (level == -1) level = default_level(c);
  if (!level_ok(c, level)) return nullptr;
  switch (c) {
    case Coding::gzip: return make_one<GzipEncoder>(level);
    case Coding::br: return make_one<BrotliEncoder>(level);
    case Coding::zstd: return make_one<ZstdEncoder>(level);
    case Coding::identity: break;
  }
  return nullptr;
}

std::unique_ptr<Encoder> take_encoder(Coding c, int level) {
  if (c == Coding::identity) return nullptr;
  if (level == -1) level = default_level(c);
  Pool& p = pool();
  if (p.busy_bytes + encoder_bytes(c) > kBusyBudgetBytes) return nullptr;
  size_t k = static_cast<size_t>(c);
  std::unique_ptr<Encoder> e;
  for (size_t i = 0; i < p.n[k]; ++i) {
    if (p.idle[k][i]->level() != level) continue;
    e = std::move(p.idle[k][i]);
    p.idle[k][i] = std::move(p.idle[k][--p.n[k]]);
    break;
  }
  if (!e) e = Encoder::make(c, level);
  if (e) p.busy_bytes += encoder_bytes(c);
  return e;
}

void give_back(std::unique_ptr<Encoder> e) {
  if (!e) return;
  Pool& p = pool();
  p.busy_bytes -= std::min(p.busy_bytes, encoder_bytes(e->coding()));
  size_t k = static_cast<size_t>(e->coding());
  if (p.n[k] == kIdlePerCoding || !e->reset()) return;   // freed here
  p.idle[k][p.n[k]++] = std::move(e);
}

void trim_encoders(size_t keep) {
  Pool& p = pool();
  for (size_t k = 0; k < kCodings; ++k) {
    while (p.n[k] > keep) p.idle[k][--p.n[k]].reset();
  }
}

}  // namespace gh::coding
