// The `compress` policy key (CONTRACT "Policies"): true/false or a map,
// route over server, and a FILE:LINE:COL error for every bad value.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;

namespace config_compress_test {

TEST(Compress, TrueTakesTheDefaults) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      compress: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& c = r.config->server.reverse_proxy[0].policies.compress;
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->algorithms, (std::vector<std::string>{"zstd", "br", "gzip"}));
  EXPECT_EQ(c->min_size, 1024u);
  EXPECT_TRUE(c->types.empty());
}

TEST(Compress, MapSetsEachKey) {
  LoadResult r = load(
      "server:\n  compress: {algorithms: [gzip, Brotli], min_size: 2k, types: [Text/HTML, text/*]}\n"
      "  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& c = r.config->server.policies.compress;
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->algorithms, (std::vector<std::string>{"gzip", "br"}));
  EXPECT_EQ(c->min_size, 2048u);
  EXPECT_EQ(c->types, (std::vector<std::string>{"text/html", "text/*"}));
}

TEST(Compress, RouteReplacesServer) {
  LoadResult r = load(
      "server:\n  compress: true\n  reverse_proxy:\n    - path: /a\n      compress: false\n"
      "    - path: /b\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& s = r.config->server;
  Policies a = effective_policies(s.policies, s.reverse_proxy[0].policies);
  Policies b = effective_policies(s.policies, s.reverse_proxy[1].policies);
  ASSERT_TRUE(a.compress && b.compress);
  EXPECT_FALSE(a.compress->enabled);
  EXPECT_TRUE(b.compress->enabled);
}

struct Bad {
  const char* yaml;   // the value of `compress:` on line 4
  int col;
  const char* says;
};

TEST(Compress, BadValuesAreFileLineColErrors) {
  const Bad cases[] = {
      {"{algorithms: [deflate]}", 31, "not one of zstd, br, gzip"},
      {"{algorithms: [gzip, gzip]}", 37, "twice"},
      {"{algorithms: []}", 30, "lists none"},
      {"{types: [html]}", 26, "media type"},
      {"{types: [te*t/html]}", 26, "media type"},
      {"{min_size: lots}", 28, ""},
      {"{level: 9}", 18, "level"},
      {"maybe", 17, ""},
  };
  for (const Bad& b : cases) {
    LoadResult r = load(std::string("server:\n  reverse_proxy:\n    - path: /\n      compress: ") +
                        b.yaml + "\n");
    ASSERT_FALSE(r.errors.empty()) << b.yaml;
    EXPECT_EQ(r.errors[0].line, 4) << b.yaml;
    EXPECT_EQ(r.errors[0].col, b.col) << b.yaml << ": " << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(b.says), std::string::npos) << r.errors[0].str();
  }
}

TEST(Compress, AScalarOtherThanABoolPointsAtTheMapForm) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      compress: gzip\n");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].message.find("{algorithms: [gzip]}"), std::string::npos) << r.errors[0].str();
}

TEST(Compress, EventStreamInTypesWarns) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      compress: {types: [text/event-stream]}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].message.find("event-stream"), std::string::npos);
}

}  // namespace config_compress_test
