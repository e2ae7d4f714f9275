// server.traceparent (W3C Trace Context, docs/configuration.md): its default,
// its two values, and a FILE:LINE:COL error for a bad value or a misplaced key.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using namespace gh::config_test;

namespace {

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
