#include "core/units.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

using namespace std::chrono_literals;
using gh::core::format_duration;
using gh::core::kMaxDuration;
using gh::core::parse_duration;
using gh::core::parse_size;

namespace {

struct DurationCase {
  const char* text;
  std::optional<std::chrono::milliseconds> want;
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"250ms", 250ms},
      {"0ms", 0ms},
      {"10s", 10s},
      {"5m", 5min},
      {"1h", 1h},
      {"1d", 24h},
      {"1m30s", 90s},
      {"1h30m", 90min},
      {"1d2h3m4s5ms", 24h + 2h + 3min + 4s + 5ms},
      {"1s500ms", 1500ms},
      {"0", 0s},
      {"30", 30s},
      {"0s", 0s},
      {"007s", 7s},
      {"3650d", kMaxDuration},
      {"315360000", kMaxDuration},  // bare seconds at the limit
      // refused
      {"", std::nullopt},
      {"-1s", std::nullopt},
      {"-5", std::nullopt},
      {"+5s", std::nullopt},
      {"1.5s", std::nullopt},
      {"10 s", std::nullopt},
      {" 10s", std::nullopt},
      {"10s ", std::nullopt},
      {"s", std::nullopt},
      {"ms", std::nullopt},
      {"10S", std::nullopt},
      {"10sec", std::nullopt},
      {"10x", std::nullopt},
      {"10us", std::nullopt},
      {"1w", std::nullopt},
      {"30s1m", std::nullopt},    // out of order
      {"1m1m", std::nullopt},     // repeated
      {"1ms1s", std::nullopt},    // out of order
      {"1m30", std::nullopt},     // trailing number without unit
      {"1m-30s", std::nullopt},
      {"3651d", std::nullopt},    // over the limit
      {"3650d1ms", std::nullopt},
      {"315360001", std::nullopt},
      {"99999999999999999999s", std::nullopt},  // overflows 64 bits
      {"18446744073709551615ms", std::nullopt},
      {"18446744073709551616", std::nullopt},
      {"0x10s", std::nullopt},
      {"1h\n", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(parse_duration(c.text), c.want);
  }
}

TEST(ParseDuration, EmbeddedNulIsRefused) {
  EXPECT_EQ(parse_duration(std::string_view("1\0s", 3)), std::nullopt);
  EXPECT_EQ(parse_duration(std::string_view("10s\0", 4)), std::nullopt);
}

TEST(FormatDuration, Table) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(1h), "1h");
  EXPECT_EQ(format_duration(24h + 2h + 5ms), "1d2h5ms");
  EXPECT_EQ(format_duration(-1500ms), "-1s500ms");
  EXPECT_EQ(format_duration(std::chrono::milliseconds::min()).substr(0, 1), "-");
}

TEST(FormatDuration, RoundTrips) {
  const std::chrono::milliseconds values[] = {0ms, 1ms, 999ms, 1s, 61s, 3599999ms, 1h, 86'400'001ms,
                                               kMaxDuration, 123'456'789ms};
  for (auto v : values) {
    SCOPED_TRACE(v.count());
    EXPECT_EQ(parse_duration(format_duration(v)), v);
  }
}

struct SizeCase {
  std::string_view text;
  std::optional<uint64_t> want;
};

TEST(ParseSize, Table) {
  const SizeCase cases[] = {
      {"0", 0},
      {"512", 512},
      {"512b", 512},
      {"512B", 512},
      {"16k", 16 * 1024},
      {"16K", 16 * 1024},
      {"16kb", 16 * 1024},
      {"16KB", 16 * 1024},
      {"16KiB", 16 * 1024},
      {"16kib", 16 * 1024},
      {"1m", 1024 * 1024},
      {"1M", 1024 * 1024},
      {"1MiB", 1024 * 1024},
      {"2g", 2ULL << 30},
      {"2GB", 2ULL << 30},
      {"18446744073709551615", UINT64_MAX},
      {"17179869183g", 17179869183ULL << 30},
      // refused
      {"", std::nullopt},
      {"k", std::nullopt},
      {"-1", std::nullopt},
      {"+1k", std::nullopt},
      {"1.5k", std::nullopt},
      {"16 k", std::nullopt},
      {" 16k", std::nullopt},
      {"16k ", std::nullopt},
      {"16t", std::nullopt},
      {"16kk", std::nullopt},
      {"16kibb", std::nullopt},
      {"16ib", std::nullopt},
      {"16bi", std::nullopt},
      {"16kB2", std::nullopt},
      {"18446744073709551616", std::nullopt},
      {"17179869184g", std::nullopt},  // 2^34 * 2^30 overflows
      {"99999999999999999999999", std::nullopt},
      {"0x10", std::nullopt},
      {std::string_view("16\0k", 4), std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    EXPECT_EQ(parse_size(c.text), c.want);
  }
}

}  // namespace
