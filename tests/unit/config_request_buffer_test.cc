// limits.request_buffer and limits.request_body_min_rate: defaults, sizes,
// and FILE:LINE:COL errors for values out of range.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;

namespace {

TEST(RequestBuffer, Defaults) {
  LoadResult r = load("server: {}\n");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config->server.limits.request_buffer, 1024u * 1024);
  EXPECT_EQ(r.config->server.limits.request_body_min_rate, 1024u);
}

TEST(RequestBuffer, SizesAndZero) {
  LoadResult r = load("server:\n  limits:\n    request_buffer: 64k\n    request_body_min_rate: 0\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.limits.request_buffer, 64u * 1024);
  EXPECT_EQ(r.config->server.limits.request_body_min_rate, 0u);
  r = load("server:\n  limits:\n    request_buffer: 0\n    request_body_min_rate: 10k\n");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config->server.limits.request_buffer, 0u);
  EXPECT_EQ(r.config->server.limits.request_body_min_rate, 10u * 1024);
}

TEST(RequestBuffer, OutOfRangeIsAnErrorAtTheValue) {
  LoadResult r = load("server:\n  limits:\n    request_buffer: 1g\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].col, 21);
  r = load("server:\n  limits:\n    request_body_min_rate: fast\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].str().find("size"), std::string::npos) << r.errors[0].str();
}

TEST(RequestBuffer, MisspeltKeyGetsAHint) {
  LoadResult r = load("server:\n  limits:\n    request_bufer: 1m\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].str().find("request_buffer"), std::string::npos) << r.errors[0].str();
}

}  // namespace
