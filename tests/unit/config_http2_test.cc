// HTTP/2 keys (CONTRACT "HTTP/2 and gRPC"): server.http2,
// server.limits.h2_max_concurrent_streams and a route's upstream_protocol.
// Their defaults, the values they take, and a FILE:LINE:COL error for every
// bad value or misplaced key.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using namespace gh::config_test;

namespace {

// --------------------------------------------------------------------------
// Defaults

TEST(Http2Config, DefaultsWhenNothingIsSet) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0].str();
  const Server& s = r.config->server;
  EXPECT_TRUE(s.http2);
  EXPECT_EQ(s.limits.h2_max_concurrent_streams, 128u);
  ASSERT_EQ(s.reverse_proxy.size(), 1u);
  EXPECT_EQ(s.reverse_proxy[0].upstream_protocol, UpstreamProtocol::http1);
}

TEST(Http2Config, EmptyFileHasTheDefaults) {
  LoadResult r = load("");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.config->server.http2);
  EXPECT_EQ(r.config->server.limits.h2_max_concurrent_streams, 128u);
}

TEST(Http2Config, OtherLimitsLeaveTheStreamLimitAlone) {
  LoadResult r = load("server:\n  limits:\n    max_header_bytes: 16k\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.limits.h2_max_concurrent_streams, 128u);
  EXPECT_TRUE(r.config->server.http2);
}

// --------------------------------------------------------------------------
// server.http2

TEST(Http2Config, Http2TakesEveryBoolSpelling) {
  for (const char* word : {"false", "False", "FALSE", "no", "off", "No", "OFF"}) {
    LoadResult r = load(std::string("server:\n  http2: ") + word + "\n");
    ASSERT_TRUE(r.errors.empty()) << word << ": " << r.errors[0].str();
    EXPECT_FALSE(r.config->server.http2) << word;
  }
  for (const char* word : {"true", "True", "TRUE", "yes", "on", "Yes", "ON"}) {
    LoadResult r = load(std::string("server:\n  http2: ") + word + "\n");
    ASSERT_TRUE(r.errors.empty()) << word << ": " << r.errors[0].str();
    EXPECT_TRUE(r.config->server.http2) << word;
  }
}

TEST(Http2Config, Http2RefusesWhatIsNotABool) {
  //                      "  http2: " is 9 columns: the value starts at 10.
  for (const char* bad : {"maybe", "1", "0", "h2", "h2c", "enabled"}) {
    LoadResult r = load(std::string("server:\n  http2: ") + bad + "\n");
    const Error& e = only_error(r, 2, 10);
    EXPECT_TRUE(mentions(e, "true or false")) << bad << ": " << e.str();
    EXPECT_TRUE(mentions(e, bad)) << e.str();
  }
}

TEST(Http2Config, Http2RefusesAQuotedWord) {
  LoadResult r = load("server:\n  http2: \"false\"\n");
  const Error& e = only_error(r, 2, 10);
  EXPECT_TRUE(mentions(e, "quotes")) << e.str();
}

TEST(Http2Config, Http2RefusesEmptyMapAndList) {
  {
    LoadResult r = load("server:\n  http2:\n");
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 2) << r.errors[0].str();
  }
  {
    LoadResult r = load("server:\n  http2: [true]\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 2) << r.errors[0].str();
    EXPECT_EQ(r.errors[0].col, 10) << r.errors[0].str();
  }
  {
    LoadResult r = load("server:\n  http2: {enabled: true}\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 2) << r.errors[0].str();
  }
}

TEST(Http2Config, Http2BelongsInServer) {
  {
    LoadResult r = load("http2: false\n");
    const Error& e = only_error(r, 1, 1);
    EXPECT_TRUE(mentions(e, "http2")) << e.str();
    EXPECT_TRUE(mentions(e, "server")) << e.str();  // "it belongs in server"
  }
  {
    LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      http2: false\n");
    const Error& e = only_error(r, 4, 7);
    EXPECT_TRUE(mentions(e, "http2")) << e.str();
  }
  {
    LoadResult r = load("server:\n  htp2: false\n");
    const Error& e = only_error(r, 2, 3);
    EXPECT_TRUE(mentions(e, "did you mean 'http2'")) << e.str();
  }
  {
    LoadResult r = load("server:\n  http2: false\n  http2: true\n");
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 3) << r.errors[0].str();
  }
}

// --------------------------------------------------------------------------
// server.limits.h2_max_concurrent_streams

TEST(Http2Config, MaxConcurrentStreamsValidValues) {
  struct Case {
    const char* text;
    uint32_t want;
  } cases[] = {{"1", 1}, {"2", 2}, {"100", 100}, {"128", 128}, {"1000", 1000},
               {"100000", 100000}, {"\"256\"", 256}, {"'64'", 64}};
  for (const Case& c : cases) {
    LoadResult r = load(std::string("server:\n  limits:\n    h2_max_concurrent_streams: ") + c.text + "\n");
    ASSERT_TRUE(r.errors.empty()) << c.text << ": " << r.errors[0].str();
    EXPECT_EQ(r.config->server.limits.h2_max_concurrent_streams, c.want) << c.text;
  }
}

TEST(Http2Config, MaxConcurrentStreamsRefusesOutOfRangeAndNonIntegers) {
  // "    h2_max_concurrent_streams: " is 31 columns: the value starts at 32.
  for (const char* bad : {"0", "100001", "4294967296", "-1", "+5", "010", "1.5", "1e3", "0x10",
                          "16k", "many", "auto"}) {
    LoadResult r = load(std::string("server:\n  limits:\n    h2_max_concurrent_streams: ") + bad + "\n");
    const Error& e = only_error(r, 3, 32);
    EXPECT_TRUE(mentions(e, "h2_max_concurrent_streams")) << bad << ": " << e.str();
    EXPECT_TRUE(mentions(e, "1 to 100000")) << bad << ": " << e.str();
    EXPECT_TRUE(mentions(e, bad)) << bad << ": " << e.str();
  }
}

TEST(Http2Config, MaxConcurrentStreamsRefusesEmptyAndLists) {
  {
    LoadResult r = load("server:\n  limits:\n    h2_max_concurrent_streams:\n");
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 3) << r.errors[0].str();
  }
  {
    LoadResult r = load("server:\n  limits:\n    h2_max_concurrent_streams: [1]\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 3) << r.errors[0].str();
    EXPECT_EQ(r.errors[0].col, 32) << r.errors[0].str();
  }
}

TEST(Http2Config, MaxConcurrentStreamsBelongsInLimits) {
  {
    LoadResult r = load("server:\n  h2_max_concurrent_streams: 10\n");
    const Error& e = only_error(r, 2, 3);
    EXPECT_TRUE(mentions(e, "server.limits")) << e.str();  // "it belongs in server.limits"
  }
  {
    LoadResult r = load("server:\n  limits:\n    h2_max_concurent_streams: 10\n");
    const Error& e = only_error(r, 3, 5);
    EXPECT_TRUE(mentions(e, "did you mean 'h2_max_concurrent_streams'")) << e.str();
  }
  {
    LoadResult r = load("server:\n  timeouts:\n    h2_max_concurrent_streams: 10\n");
    const Error& e = only_error(r, 3, 5);
    EXPECT_TRUE(mentions(e, "server.limits")) << e.str();
  }
}

TEST(Http2Config, EveryBadValueIsReportedNotJustTheFirst) {
  LoadResult r = load(
      "server:\n"
      "  http2: perhaps\n"
      "  limits:\n"
      "    h2_max_concurrent_streams: 0\n"
      "  reverse_proxy:\n"
      "    - path: /\n"
      "      upstream_protocol: h3\n");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].col, 10);
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[1].col, 32);
  EXPECT_EQ(r.errors[2].line, 7);
  EXPECT_EQ(r.errors[2].col, 26);
  EXPECT_FALSE(r.config.has_value());
}

// --------------------------------------------------------------------------
// route upstream_protocol

TEST(Http2Config, UpstreamProtocolValues) {
  LoadResult r = load(
      "server:\n  reverse_proxy:\n"
      "    - path: /a\n      upstream_protocol: http1\n"
      "    - path: /b\n      upstream_protocol: http2\n"
      "    - path: /c\n      upstream_protocol: http2\n      ssl: true\n      port: 443\n"
      "    - path: /d\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& routes = r.config->server.reverse_proxy;
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].upstream_protocol, UpstreamProtocol::http1);
  EXPECT_EQ(routes[1].upstream_protocol, UpstreamProtocol::http2);
  EXPECT_EQ(routes[2].upstream_protocol, UpstreamProtocol::http2);
  EXPECT_TRUE(routes[2].ssl);
  EXPECT_EQ(routes[3].upstream_protocol, UpstreamProtocol::http1);
}

TEST(Http2Config, UpstreamProtocolIsPerRouteAndIndependentOfServerHttp2) {
  LoadResult r = load(
      "server:\n  http2: false\n  reverse_proxy:\n"
      "    - path: /grpc.Service\n      upstream_protocol: http2\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_FALSE(r.config->server.http2);
  EXPECT_EQ(r.config->server.reverse_proxy[0].upstream_protocol, UpstreamProtocol::http2);
}

TEST(Http2Config, UpstreamProtocolWithBackendsList) {
  LoadResult r = load(
      "server:\n  reverse_proxy:\n    - path: /\n      upstream_protocol: http2\n"
      "      backends:\n        - address: 127.0.0.1:50051\n        - address: 127.0.0.1:50052\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.reverse_proxy[0].upstream_protocol, UpstreamProtocol::http2);
}

TEST(Http2Config, UpstreamProtocolRefusesOtherWords) {
  // "      upstream_protocol: " is 25 columns: the value starts at 26.
  for (const char* bad : {"h2", "h2c", "http3", "HTTP2", "Http1", "http/1.1", "grpc", "2", "true"}) {
    LoadResult r = load(std::string("server:\n  reverse_proxy:\n    - path: /\n      upstream_protocol: ") +
                        bad + "\n");
    const Error& e = only_error(r, 4, 26);
    EXPECT_TRUE(mentions(e, "upstream_protocol")) << bad << ": " << e.str();
    EXPECT_TRUE(mentions(e, "http1, http2")) << bad << ": " << e.str();
  }
}

TEST(Http2Config, UpstreamProtocolSuggestsTheCloseWord) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      upstream_protocol: http3\n");
  const Error& e = only_error(r, 4, 26);
  EXPECT_TRUE(mentions(e, "did you mean")) << e.str();
}

TEST(Http2Config, UpstreamProtocolRefusesEmptyAndLists) {
  {
    LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      upstream_protocol:\n");
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 4) << r.errors[0].str();
  }
  {
    LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      upstream_protocol: [http2]\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 4) << r.errors[0].str();
    EXPECT_EQ(r.errors[0].col, 26) << r.errors[0].str();
  }
}

TEST(Http2Config, UpstreamProtocolBelongsInARoute) {
  {
    LoadResult r = load("server:\n  upstream_protocol: http2\n");
    const Error& e = only_error(r, 2, 3);
    EXPECT_TRUE(mentions(e, "upstream_protocol")) << e.str();
    EXPECT_TRUE(mentions(e, "route")) << e.str();  // "it belongs in route"
  }
  {
    LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      upstream_protocl: http2\n");
    const Error& e = only_error(r, 4, 7);
    EXPECT_TRUE(mentions(e, "did you mean 'upstream_protocol'")) << e.str();
  }
  {
    LoadResult r = load(
        "server:\n  reverse_proxy:\n    - path: /\n      backends:\n"
        "        - address: 127.0.0.1:1\n          upstream_protocol: http2\n");
    const Error& e = only_error(r, 6, 11);
    EXPECT_TRUE(mentions(e, "route")) << e.str();
  }
}

}  // namespace
