// Streaming encoders, checked with the libraries' own decoders fed the
// output as it comes: what a client sees. Every flush must make all input so
// far decodable; finish must end the stream; reset must give a fresh one.
#include "coding/encoder.h"

#include <brotli/decode.h>
#include <gtest/gtest.h>

#include <thread>
#include <zlib.h>
#include <zstd.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace gh::coding {
namespace {

// A streaming decoder for one coding: feed() the encoder's output as it
// comes, decoded() is everything decodable so far.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual bool feed(std::string_view in) = 0;   // false: corrupt stream
  virtual bool ended() const = 0;               // the stream's end was seen
  std::string decoded;
};

class GunzipDecoder final : public Decoder {
 public:
  GunzipDecoder() { EXPECT_EQ(inflateInit2(&z_, 15 + 16), Z_OK); }   // gzip wrapper only
  ~GunzipDecoder() override { inflateEnd(&z_); }
  bool feed(std::string_view in) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      int rc = inflate(&z_, Z_NO_FLUSH);
      decoded.append(buf, sizeof buf - z_.avail_out);
      if (rc == Z_STREAM_END) {
        end_ = true;
        return z_.avail_in == 0;   // nothing may follow the trailer
      }
      if (rc == Z_BUF_ERROR && z_.avail_in == 0) return true;   // needs more input
      if (rc != Z_OK) return false;
      if (z_.avail_in == 0 && z_.avail_out != 0) return true;
    }
  }
  bool ended() const override { return end_; }

 private:
  z_stream z_{};
  bool end_ = false;
};

class BrotliDec final : public Decoder {
 public:
  BrotliDec() : s_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDec() override { BrotliDecoderDestroyInstance(s_); }
  bool feed(std::string_view in) override {
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    for (;;) {
      uint8_t buf[16384];
      size_t avail_out = sizeof buf;
      uint8_t* next_out = buf;
      BrotliDecoderResult r =
          BrotliDecoderDecompressStream(s_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      decoded.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
      if (r == BROTLI_DECODER_RESULT_SUCCESS) {
        end_ = true;
        return avail_in == 0;
      }
      if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return true;
      if (r == BROTLI_DECODER_RESULT_ERROR) return false;
    }
  }
  bool ended() const override { return end_; }

 private:
  BrotliDecoderState* s_;
  bool end_ = false;
};

class ZstdDec final : public Decoder {
 public:
  ZstdDec() : d_(ZSTD_createDCtx()) {
    // What a browser may insist on (RFC 9659: at most 8 MiB for HTTP).
    ZSTD_DCtx_setParameter(d_, ZSTD_d_windowLogMax, 23);
  }
  ~ZstdDec() override { ZSTD_freeDCtx(d_); }
  bool feed(std::string_view in) override {
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    for (;;) {
      char buf[16384];
      ZSTD_outBuffer ob{buf, sizeof buf, 0};
      size_t rc = ZSTD_decompressStream(d_, &ob, &ib);
      if (ZSTD_isError(rc)) return false;
      decoded.append(buf, ob.pos);
      if (rc == 0) {
        end_ = true;
        return ib.pos == ib.size;   // one frame per response
      }
      if (ib.pos == ib.size && ob.pos < ob.size) return true;
    }
  }
  bool ended() const override { return end_; }

 private:
  ZSTD_DCtx* d_;
  bool end_ = false;
};

std::unique_ptr<Decoder> decoder_for(Coding c) {
  switch (c) {
    case Coding::gzip: return std::make_unique<GunzipDecoder>();
    case Coding::br: return std::make_unique<BrotliDec>();
    case Coding::zstd: return std::make_unique<ZstdDec>();
    case Coding::identity: break;
  }
  return nullptr;
}

// Text-like bytes: words from a small vocabulary, with line breaks, so the
// data compresses the way HTML or JSON does (3x or better).
std::string text(size_t n, uint32_t seed = 1) {
  static const char* const kWords[] = {
      "the", "proxy", "response", "header", "field", "content", "coding", "gzip", "<div>",
      "</div>", "{\"id\":", "\"name\":", "class=\"row\"", "license", "software", "free",
      "program", "copy", "source", "code", "terms", "conditions", "distribution", "and", "of"};
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(n + 32);
  while (s.size() < n) {
    s += kWords[rng() % std::size(kWords)];
    s += (rng() % 12 == 0) ? '\n' : ' ';
  }
  s.resize(n);
  return s;
}

std::string random_bytes(size_t n, uint32_t seed = 2) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Encodes `data` in one write and finishes; returns the coded bytes.
std::string encode_all(Encoder& e, std::string_view data) {
  std::string out;
  EXPECT_TRUE(e.write(data, out, false));
  EXPECT_TRUE(e.finish(out));
  return out;
}

// Decodes a whole coded stream, expecting its end.
std::string decode_all(Coding c, std::string_view coded) {
  std::unique_ptr<Decoder> d = decoder_for(c);
  EXPECT_TRUE(d->feed(coded));
  EXPECT_TRUE(d->ended());
  return d->decoded;
}

class EncoderTest : public ::testing::TestWithParam<Coding> {};

TEST_P(EncoderTest, RoundTripText) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->coding(), GetParam());
  std::string data = text(300 * 1024);
  std::string coded = encode_all(*e, data);
  EXPECT_EQ(decode_all(GetParam(), coded), data);
  EXPECT_LT(coded.size(), data.size() / 3) << "text should compress well";
}

TEST_P(EncoderTest, RoundTripRandom) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string data = random_bytes(300 * 1024);
  std::string coded = encode_all(*e, data);
  EXPECT_EQ(decode_all(GetParam(), coded), data);
  // Incompressible data grows only by the framing (stored blocks).
  EXPECT_LT(coded.size(), data.size() + data.size() / 100 + 64);
}

TEST_P(EncoderTest, MagicBytes) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string coded = encode_all(*e, "hello");
  ASSERT_GE(coded.size(), 4u);
  if (GetParam() == Coding::gzip) {
    EXPECT_EQ(coded.substr(0, 3), std::string("\x1f\x8b\x08", 3));   // RFC 1952: ID1 ID2 CM=deflate
  } else if (GetParam() == Coding::zstd) {
    EXPECT_EQ(coded.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));   // RFC 8878 magic
  }
}

// The point of flush: after each, the client can decode everything written.
TEST_P(EncoderTest, EveryFlushMakesAllInputDecodable) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  auto d = decoder_for(GetParam());
  std::string data = text(64 * 1024, 7) + random_bytes(8 * 1024, 8) + text(16 * 1024, 9);
  std::mt19937 rng(3);
  size_t at = 0;
  int flushes = 0;
  while (at < data.size()) {
    size_t n = std::min<size_t>(1 + rng() % 2000, data.size() - at);
    std::string out;
    ASSERT_TRUE(e->write(std::string_view(data).substr(at, n), out, true));
    at += n;
    ++flushes;
    EXPECT_FALSE(out.empty()) << "a flush after new input emits something";
    ASSERT_TRUE(d->feed(out));
    ASSERT_EQ(d->decoded.size(), at) << "after flush " << flushes;
    ASSERT_EQ(d->decoded, data.substr(0, at));
    EXPECT_FALSE(d->ended());
  }
  std::string out;
  ASSERT_TRUE(e->finish(out));
  ASSERT_TRUE(d->feed(out));
  EXPECT_TRUE(d->ended());
  EXPECT_EQ(d->decoded, data);
}

// A flush with nothing new (twice in a row, or before any data) is harmless.
TEST_P(EncoderTest, EmptyFlushes) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  auto d = decoder_for(GetParam());
  std::string out;
  ASSERT_TRUE(e->write({}, out, true));
  ASSERT_TRUE(e->write("abc", out, true));
  ASSERT_TRUE(e->write({}, out, true));
  ASSERT_TRUE(e->write({}, out, true));
  ASSERT_TRUE(d->feed(out));
  EXPECT_EQ(d->decoded, "abc");
  out.clear();
  ASSERT_TRUE(e->write({}, out, false));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(e->finish(out));
  ASSERT_TRUE(d->feed(out));
  EXPECT_TRUE(d->ended());
  EXPECT_EQ(d->decoded, "abc");
}

// Without flushes the library may hold input back; finish brings it all out.
TEST_P(EncoderTest, SmallPiecesWithoutFlush) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string data = text(100 * 1024, 4);
  std::string coded;
  for (size_t at = 0; at < data.size(); at += 100) {
    ASSERT_TRUE(e->write(std::string_view(data).substr(at, 100), coded, false));
  }
  ASSERT_TRUE(e->finish(coded));
  EXPECT_EQ(decode_all(GetParam(), coded), data);
}

TEST_P(EncoderTest, EmptyBody) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string coded;
  ASSERT_TRUE(e->finish(coded));
  EXPECT_FALSE(coded.empty()) << "an empty stream still has its framing";
  EXPECT_EQ(decode_all(GetParam(), coded), "");
}

TEST_P(EncoderTest, FinishEndsTheStream) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string out;
  ASSERT_TRUE(e->write("body", out, false));
  ASSERT_TRUE(e->finish(out));
  std::string more;
  EXPECT_FALSE(e->write("more", more, false));
  EXPECT_FALSE(e->write({}, more, true));
  EXPECT_FALSE(e->finish(more));
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(decode_all(GetParam(), out), "body");
}

TEST_P(EncoderTest, ResetAndReuse) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string a = text(50 * 1024, 10);
  std::string b = text(20 * 1024, 11);
  EXPECT_EQ(decode_all(GetParam(), encode_all(*e, a)), a);
  ASSERT_TRUE(e->reset());
  EXPECT_EQ(decode_all(GetParam(), encode_all(*e, b)), b);
  // Reset in the middle of a response (the client went away): the next
  // stream starts clean, nothing of the abandoned one in it.
  ASSERT_TRUE(e->reset());
  std::string abandoned;
  ASSERT_TRUE(e->write(a, abandoned, true));
  ASSERT_TRUE(e->write("tail never finished", abandoned, false));
  ASSERT_TRUE(e->reset());
  EXPECT_EQ(decode_all(GetParam(), encode_all(*e, b)), b);
  ASSERT_TRUE(e->reset());
  std::string empty;
  ASSERT_TRUE(e->finish(empty));
  EXPECT_EQ(decode_all(GetParam(), empty), "");
}

// 10 MiB in 16 KiB pieces (a proxy's read size), flushed after each: the
// stream stays decodable all along and the output is still compressed.
TEST_P(EncoderTest, TenMebibytesIn16KiBPieces) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  auto d = decoder_for(GetParam());
  const std::string data = text(10 * 1024 * 1024, 12);
  constexpr size_t kPiece = 16 * 1024;
  size_t coded = 0;
  std::string out;
  for (size_t at = 0; at < data.size(); at += kPiece) {
    out.clear();
    ASSERT_TRUE(e->write(std::string_view(data).substr(at, kPiece), out, true));
    coded += out.size();
    ASSERT_TRUE(d->feed(out));
    ASSERT_EQ(d->decoded.size(), at + kPiece);
  }
  out.clear();
  ASSERT_TRUE(e->finish(out));
  coded += out.size();
  ASSERT_TRUE(d->feed(out));
  EXPECT_TRUE(d->ended());
  EXPECT_TRUE(d->decoded == data);
  EXPECT_LT(coded, data.size() / 3);
}

// Writes bigger than the output room the encoder asks for at first.
TEST_P(EncoderTest, OneLargeFlushedWrite) {
  auto e = Encoder::make(GetParam());
  ASSERT_NE(e, nullptr);
  std::string data = random_bytes(1024 * 1024, 13);
  std::string out = "prefix";   // output is appended
  ASSERT_TRUE(e->write(data, out, true));
  ASSERT_EQ(out.substr(0, 6), "prefix");
  auto d = decoder_for(GetParam());
  ASSERT_TRUE(d->feed(std::string_view(out).substr(6)));
  EXPECT_TRUE(d->decoded == data);
  std::string tail;
  ASSERT_TRUE(e->finish(tail));
  ASSERT_TRUE(d->feed(tail));
  EXPECT_TRUE(d->ended());
}

TEST_P(EncoderTest, EveryLevelRoundTrips) {
  std::string data = text(40 * 1024, 14);
  int lo = GetParam() == Coding::br ? 0 : 1;
  int hi = GetParam() == Coding::gzip ? 9 : GetParam() == Coding::br ? 6 : 8;
  EXPECT_FALSE(level_ok(GetParam(), lo - 1));
  EXPECT_FALSE(level_ok(GetParam(), hi + 1));
  EXPECT_FALSE(level_ok(GetParam(), -1));   // make()'s "default", not a level
  if (lo - 1 != -1) {
    EXPECT_EQ(Encoder::make(GetParam(), lo - 1), nullptr);
  }
  EXPECT_EQ(Encoder::make(GetParam(), -2), nullptr);
  EXPECT_EQ(Encoder::make(GetParam(), hi + 1), nullptr);
  for (int level = lo; level <= hi; ++level) {
    ASSERT_TRUE(level_ok(GetParam(), level));
    auto e = Encoder::make(GetParam(), level);
    ASSERT_NE(e, nullptr) << level;
    EXPECT_EQ(e->level(), level);
    std::string out;
    ASSERT_TRUE(e->write(data, out, true));
    ASSERT_TRUE(e->write(data, out, false));
    ASSERT_TRUE(e->finish(out));
    EXPECT_EQ(decode_all(GetParam(), out), data + data) << "level " << level;
  }
}

INSTANTIATE_TEST_SUITE_P(Codings, EncoderTest,
                         ::testing::Values(Coding::gzip, Coding::br, Coding::zstd),
                         [](const auto& info) { return std::string(token(info.param)); });

TEST(Encoder, Defaults) {
  EXPECT_EQ(Encoder::make(Coding::identity), nullptr);
  EXPECT_FALSE(level_ok(Coding::identity, 0));
  EXPECT_EQ(default_level(Coding::gzip), 5);
  EXPECT_EQ(default_level(Coding::br), 5);
  EXPECT_EQ(default_level(Coding::zstd), 3);
  for (Coding c : {Coding::gzip, Coding::br, Coding::zstd}) {
    auto e = Encoder::make(c);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->coding(), c);
    EXPECT_EQ(e->level(), default_level(c));
    EXPECT_EQ(Encoder::make(c, default_level(c))->level(), default_level(c));
  }
}

TEST(EncoderPool, ReusesResetEncoders) {
  trim_encoders(0);
  EXPECT_EQ(take_encoder(Coding::identity), nullptr);
  give_back(nullptr);   // harmless

  auto e = take_encoder(Coding::gzip);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level(), default_level(Coding::gzip));
  Encoder* first = e.get();
  std::string abandoned;
  ASSERT_TRUE(e->write(text(10000), abandoned, true));   // mid-response
  give_back(std::move(e));

  auto again = take_encoder(Coding::gzip, default_level(Coding::gzip));
  EXPECT_EQ(again.get(), first);
  std::string data = text(5000, 21);
  EXPECT_EQ(decode_all(Coding::gzip, encode_all(*again, data)), data);   // reset before reuse

  // Another level is another encoder; another coding too.
  give_back(std::move(again));
  auto other_level = take_encoder(Coding::gzip, 1);
  ASSERT_NE(other_level, nullptr);
  EXPECT_NE(other_level.get(), first);
  EXPECT_EQ(other_level->level(), 1);
  auto zstd = take_encoder(Coding::zstd);
  ASSERT_NE(zstd, nullptr);
  EXPECT_EQ(zstd->coding(), Coding::zstd);
  auto same = take_encoder(Coding::gzip);
  EXPECT_EQ(same.get(), first);
  trim_encoders(0);
}

TEST(EncoderPool, KeepsAtMostAFewPerCoding) {
  trim_encoders(0);
  std::vector<std::unique_ptr<Encoder>> es;
  for (size_t i = 0; i < kIdlePerCoding + 3; ++i) es.push_back(take_encoder(Coding::br));
  std::set<Encoder*> given;
  for (auto& e : es) {
    given.insert(e.get());
    give_back(std::move(e));   // the last 3 are freed
  }
  es.clear();
  // Hold the freed addresses' memory so a new encoder cannot reuse them: the
  // first kIdlePerCoding takes come from the pool, the next is new.
  size_t from_pool = 0;
  for (size_t i = 0; i < kIdlePerCoding; ++i) {
    es.push_back(take_encoder(Coding::br));
    from_pool += given.count(es.back().get());
  }
  EXPECT_EQ(from_pool, kIdlePerCoding);
  // Every pooled encoder works as new.
  for (auto& e : es) {
    std::string data = text(3000, 30);
    EXPECT_EQ(decode_all(Coding::br, encode_all(*e, data)), data);
  }
  for (auto& e : es) give_back(std::move(e));
  trim_encoders(1);
  auto kept = take_encoder(Coding::br);
  EXPECT_EQ(given.count(kept.get()), 1u);
  trim_encoders(0);
}

}  // namespace
}  // namespace gh::coding

TEST(EncoderPool, InFlightEncodersAreBoundedByMemory) {
  using namespace gh::coding;
  // On a thread of its own: the pool and its budget are per thread.
  std::thread([] {
    std::vector<std::unique_ptr<Encoder>> busy;
    for (int i = 0; i < 1000; ++i) {
      auto e = take_encoder(Coding::zstd);
      if (!e) break;
      busy.push_back(std::move(e));
    }
    EXPECT_EQ(busy.size(), kBusyBudgetBytes / (2048u * 1024));
    EXPECT_EQ(take_encoder(Coding::br), nullptr);
    give_back(std::move(busy.back()));
    busy.pop_back();
    auto again = take_encoder(Coding::zstd);
    EXPECT_NE(again, nullptr);
    give_back(std::move(again));
    for (auto& e : busy) give_back(std::move(e));
    auto g = take_encoder(Coding::gzip);
    EXPECT_NE(g, nullptr);
    give_back(std::move(g));
    trim_encoders(0);
  }).join();
}
