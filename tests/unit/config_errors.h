// Helpers for config tests: load a text as "gh.yaml" and check that it has
// exactly one error at a given place, spelled FILE:LINE:COL.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace gh::config_test {

inline config::LoadResult load(const std::string& text) { return config::load_string(text, "gh.yaml"); }

// The one error of `r` (every error is listed when there are more), checked
// to be an error (not a warning), to sit at line:col and to read as
// "gh.yaml:LINE:COL: message".
inline const config::Error& only_error(const config::LoadResult& r, int line, int col) {
  static const config::Error none{};
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u) << [&] {
    std::string all;
    for (const config::Error& e : r.errors) all += e.str() + "\n";
    return all;
  }();
  if (r.errors.empty()) return none;
  const config::Error& e = r.errors[0];
  EXPECT_EQ(e.line, line) << e.str();
  EXPECT_EQ(e.col, col) << e.str();
  EXPECT_FALSE(e.warning) << e.str();
  EXPECT_EQ(e.str().rfind("gh.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": ", 0),
            0u)
      << e.str();
  return e;
}

inline bool mentions(const config::Error& e, const std::string& what) {
  return e.message.find(what) != std::string::npos;
}

}  // namespace gh::config_test
