// Suggestions for misspelt names in error messages ("did you mean 'port'?").
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace gh::config {

// Optimal-string-alignment distance (insertions, deletions, substitutions and
// swaps of two neighbours each cost 1), ignoring ASCII case. Accepts any
// bytes; inputs longer than 64 bytes are compared as "far" (returns 99).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is near enough to be a likely typo:
// distance 1 for names of up to 5 characters, 2 for longer ones. Ties go to
// the earlier candidate. Returns nothing when no candidate is near.
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates);

}  // namespace gh::config
