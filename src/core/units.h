// Durations and byte sizes as written in the config file ("250ms", "1m30s",
// "16k"). Parsing is strict and never throws: anything doubtful is refused so
// that a typo becomes a config error instead of a surprising value.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::core {

// Largest duration we accept (3650 days). Keeps `steady_clock::now() + d`
// far from overflowing the clock's nanosecond representation.
inline constexpr std::chrono::milliseconds kMaxDuration{3650LL * 24 * 3600 * 1000};

// Accepts one or more <digits><unit> parts with units d, h, m, s, ms (lower
// case), each unit at most once and from largest to smallest ("1h", "1m30s",
// "250ms", "1d2h"), or a bare non-negative integer meaning seconds ("30").
// Refuses the empty string, signs, spaces, fractions, upper-case or unknown
// units, repeated or out-of-order units, and totals above kMaxDuration.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Compact compound form that parse_duration reads back to the same value:
// "0s", "250ms", "1m30s", "1d2h". Negative values get a leading '-'.
std::string format_duration(std::chrono::milliseconds d);

// Accepts a non-negative decimal integer of bytes with an optional suffix:
// "b" (bytes), or k, m, g for 1024, 1024^2, 1024^3, optionally followed by
// "b" or "ib"; suffix letters in any case ("512", "512b", "16k", "16KB",
// "16KiB", "1m", "2g"). Refuses the empty string, signs, spaces, fractions,
// other suffixes and values that overflow 64 bits.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace gh::core
