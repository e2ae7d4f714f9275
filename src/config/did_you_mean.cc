#include "config/did_you_mean.h"

#include <algorithm>
#include <array>

#include "http/token.h"

namespace gh::config {
namespace {

// Config names are short; a fixed bound keeps the table on the stack.
constexpr size_t kMaxLen = 64;

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  if (a.size() > kMaxLen || b.size() > kMaxLen) return 99;
  // d[i][j]: distance between the first i bytes of a and the first j of b.
  std::array<std::array<size_t, kMaxLen + 1>, kMaxLen + 1> d{};
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = http::ascii_lower(a[i - 1]) == http::ascii_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && http::ascii_lower(a[i - 1]) == http::ascii_lower(b[j - 2]) &&
          http::ascii_lower(a[i - 2]) == http::ascii_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  size_t best_d = 0;
  for (std::string_view c : candidates) {
    size_t limit = c.size() <= 5 ? 1 : 2;
    size_t d = edit_distance(word, c);
    if (d > limit) continue;
    if (!best || d < best_d) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

}  // namespace gh::config
