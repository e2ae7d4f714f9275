// server.traceparent (W3C Trace Context, docs/configuration.md): its default,
// its two values, and a FILE:LINE:COL error for a bad value or a misplaced key.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

using namespace gh::config;

namespace {

LoadResult load(const std::string& text) { return load_string(text, "gh.yaml"); }

// The one error of `r`, checked to sit at line:col and to read as
// "gh.yaml:LINE:COL: message".
const Error& only_error(const LoadResult& r, int line, int col) {
  static const Error none{};
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u);
  if (r.errors.empty()) return none;
  const Error& e = r.errors[0];
  EXPECT_EQ(e.line, line) << e.str();
  EXPECT_EQ(e.col, col) << e.str();
  EXPECT_EQ(e.str().rfind("gh.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": ", 0),
            0u)
      << e.str();
  return e;
}

bool mentions(const Error& e, const std::string& what) {
  return e.message.find(what) != std::string::npos;
}

TEST(TraceparentConfig, DefaultIsPass) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.traceparent, TraceparentMode::pass);
}

TEST(TraceparentConfig, PassAndStart) {
  LoadResult p = load("server:\n  traceparent: pass\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].str();
  EXPECT_EQ(p.config->server.traceparent, TraceparentMode::pass);
  LoadResult s = load("server:\n  traceparent: start\n");
  ASSERT_TRUE(s.errors.empty()) << s.errors[0].str();
  EXPECT_EQ(s.config->server.traceparent, TraceparentMode::start);
}

TEST(TraceparentConfig, RefusesOtherValues) {
  for (std::string bad : {"Start", "begin", "true", "0"}) {
    LoadResult r = load("server:\n  traceparent: " + bad + "\n");
    const Error& e = only_error(r, 2, 16);
    EXPECT_TRUE(mentions(e, "pass")) << bad << ": " << e.str();
    EXPECT_TRUE(mentions(e, "start")) << bad << ": " << e.str();
  }
  {
    LoadResult r = load("server:\n  traceparent: strat\n");
    const Error& e = only_error(r, 2, 16);
    EXPECT_TRUE(mentions(e, "'start'")) << e.str();   // did you mean
  }
  {
    LoadResult r = load("server:\n  traceparent: [start]\n");
    only_error(r, 2, 16);
  }
}

TEST(TraceparentConfig, BelongsInServer) {
  {
    LoadResult r = load("traceparent: start\n");
    const Error& e = only_error(r, 1, 1);
    EXPECT_TRUE(mentions(e, "server")) << e.str();
  }
  {
    LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      traceparent: start\n");
    const Error& e = only_error(r, 4, 7);
    EXPECT_TRUE(mentions(e, "traceparent")) << e.str();
  }
  {
    LoadResult r = load("server:\n  traceparnet: start\n");
    const Error& e = only_error(r, 2, 3);
    EXPECT_TRUE(mentions(e, "did you mean 'traceparent'")) << e.str();
  }
}

}  // namespace
