#include "core/units.h"

#include <array>
#include <cctype>
#include <limits>

#include "core/ascii.h"

namespace gh::core {
namespace {

// Reads a run of decimal digits starting at `i`; false when there is none or
// it does not fit 64 bits.
bool read_digits(std::string_view s, size_t& i, uint64_t& out) {
  size_t start = i;
  uint64_t v = 0;
  while (i < s.size() && is_digit(s[i])) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
    ++i;
  }
  out = v;
  return i > start;
}

struct Unit {
  std::string_view name;
  uint64_t ms;
};
// Largest first: the order compound durations must follow. "ms" precedes "m"
// only in matching (see match_unit), not in rank.
constexpr std::array<Unit, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

// Index into kUnits of the unit at s[i...], or -1.
int match_unit(std::string_view s, size_t& i) {
  std::string_view rest = s.substr(i);
  if (rest.starts_with("ms")) {
    i += 2;
    return 4;
  }
  for (int u = 0; u < 4; ++u) {
    if (rest.starts_with(kUnits[u].name)) {
      i += kUnits[u].name.size();
      return u;
    }
  }
  return -1;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  const uint64_t max_ms = static_cast<uint64_t>(kMaxDuration.count());
  size_t i = 0;
  uint64_t n = 0;
  if (!read_digits(s, i, n)) return std::nullopt;
  if (i == s.size()) {  // bare integer: seconds
    if (n > max_ms / 1000) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(n * 1000));
  }
  uint64_t total = 0;
  int last_unit = -1;
  while (true) {
    int u = match_unit(s, i);
    if (u < 0 || u <= last_unit) return std::nullopt;  // unknown, repeated or out of order
    last_unit = u;
    if (n > max_ms / kUnits[u].ms) return std::nullopt;
    uint64_t part = n * kUnits[u].ms;
    if (part > max_ms - total) return std::nullopt;
    total += part;
    if (i == s.size()) break;
    if (!read_digits(s, i, n)) return std::nullopt;
    if (i == s.size()) return std::nullopt;  // "1m30": a trailing number needs a unit
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total));
}

std::string format_duration(std::chrono::milliseconds d) {
  int64_t v = d.count();
  std::string out;
  uint64_t rest;
  if (v < 0) {
    out = "-";
    rest = static_cast<uint64_t>(-(v + 1)) + 1;  // no overflow for INT64_MIN
  } else {
    rest = static_cast<uint64_t>(v);
  }
  if (rest == 0) return out + "0s";
  for (const Unit& u : kUnits) {
    uint64_t k = rest / u.ms;
    if (k == 0) continue;
    out += std::to_string(k);
    out += u.name;
    rest -= k * u.ms;
  }
  return out;
}

std::optional<uint64_t> parse_size(std::string_view s) {
  size_t i = 0;
  uint64_t n = 0;
  if (!read_digits(s, i, n)) return std::nullopt;
  if (s.size() - i > 3) return std::nullopt;  // longest suffix is "kib"
  std::string suffix;
  for (; i < s.size(); ++i) {
    suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "b") {
    mult = 1;
  } else {
    char unit = suffix[0];
    std::string_view tail = std::string_view(suffix).substr(1);
    if (tail != "" && tail != "b" && tail != "ib") return std::nullopt;
    switch (unit) {
      case 'k': mult = 1ULL << 10; break;
      case 'm': mult = 1ULL << 20; break;
      case 'g': mult = 1ULL << 30; break;
      default: return std::nullopt;
    }
  }
  if (n > std::numeric_limits<uint64_t>::max() / mult) return std::nullopt;
  return n * mult;
}

}  // namespace gh::core
