// forward_auth's config (CONTRACT "Policies (wave 2)"): url, copy_headers,
// timeout; the url taken apart for the sub-request; every bad value a
// FILE:LINE:COL error; a route's value replacing the server's.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;

namespace {

LoadResult load_fa(const std::string& body) {
  return load("server:\n  forward_auth:\n" + body);
}

TEST(ForwardAuthConfig, FullEntry) {
  LoadResult r = load_fa(
      "    url: http://127.0.0.1:9091/api/verify?rd=https%3A%2F%2Fauth.example.com\n"
      "    copy_headers: [Remote-User, Remote-Groups, Remote-Email, Remote-Name]\n"
      "    timeout: 2s\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const ForwardAuth& f = *r.config->server.policies.forward_auth;
  EXPECT_FALSE(f.tls);
  EXPECT_EQ(f.host, "127.0.0.1");
  EXPECT_EQ(f.port, 9091);
  EXPECT_EQ(f.host_header, "127.0.0.1:9091");
  EXPECT_EQ(f.target, "/api/verify?rd=https%3A%2F%2Fauth.example.com");
  EXPECT_EQ(f.copy_headers, (std::vector<std::string>{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"}));
  EXPECT_EQ(f.timeout.count(), 2000);
}

TEST(ForwardAuthConfig, DefaultsAndUrlForms) {
  LoadResult r = load_fa("    url: https://auth.example.com\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const ForwardAuth& f = *r.config->server.policies.forward_auth;
  EXPECT_TRUE(f.tls);
  EXPECT_EQ(f.host, "auth.example.com");
  EXPECT_EQ(f.port, 443);
  EXPECT_EQ(f.target, "/");
  EXPECT_TRUE(f.copy_headers.empty());
  EXPECT_EQ(f.timeout.count(), 5000);

  r = load_fa("    url: HTTP://[::1]:4180?x=1\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const ForwardAuth& g = *r.config->server.policies.forward_auth;
  EXPECT_EQ(g.host, "::1");
  EXPECT_EQ(g.port, 4180);
  EXPECT_EQ(g.host_header, "[::1]:4180");
  EXPECT_EQ(g.target, "/?x=1");

  r = load_fa("    url: http://oauth2-proxy/oauth2/auth\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.policies.forward_auth->port, 80);
}

TEST(ForwardAuthConfig, BadUrlsAreRefusedWithPosition) {
  const char* bad[] = {
      "ftp://a/v",            // scheme
      "127.0.0.1:9091/v",     // no scheme
      "http:///v",            // no host
      "http://user:pw@a/v",   // user info
      "http://a/v#frag",      // fragment
      "http://a:99999/v",     // port
      "http://a/v w",         // space
      "http://a b/v",
  };
  for (const char* u : bad) {
    LoadResult r = load_fa(std::string("    url: '") + u + "'\n");
    ASSERT_EQ(r.errors.size(), 1u) << u;
    EXPECT_EQ(r.errors[0].line, 3) << u;
    EXPECT_EQ(r.errors[0].col, 10) << u;
    EXPECT_NE(r.errors[0].message.find("forward_auth.url"), std::string::npos) << r.errors[0].str();
  }
}

TEST(ForwardAuthConfig, UrlIsRequired) {
  LoadResult r = load_fa("    copy_headers: [Remote-User]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("needs a 'url'"), std::string::npos) << r.errors[0].str();
}

TEST(ForwardAuthConfig, BadCopyHeaders) {
  LoadResult r = load_fa("    url: http://a/v\n    copy_headers: [Remote-User, 'Bad Name', Content-Length, remote-user]\n");
  ASSERT_EQ(r.errors.size(), 3u);
  for (const auto& e : r.errors) EXPECT_EQ(e.line, 4) << e.str();
  EXPECT_NE(r.errors[0].message.find("token"), std::string::npos) << r.errors[0].str();
  EXPECT_NE(r.errors[1].message.find("Content-Length"), std::string::npos) << r.errors[1].str();
  EXPECT_NE(r.errors[2].message.find("twice"), std::string::npos) << r.errors[2].str();
}

TEST(ForwardAuthConfig, BadTimeoutAndUnknownKey) {
  LoadResult r = load_fa("    url: http://a/v\n    timeout: 0s\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  r = load_fa("    url: http://a/v\n    copy_header: [X]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("copy_headers"), std::string::npos) << r.errors[0].str();
}

TEST(ForwardAuthConfig, RouteReplacesServer) {
  LoadResult r = load(
      "server:\n"
      "  forward_auth: {url: 'http://a/v', copy_headers: [Remote-User]}\n"
      "  reverse_proxy:\n"
      "    - path: /x\n"
      "      forward_auth: {url: 'http://b:4180/oauth2/auth'}\n"
      "    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& s = r.config->server;
  Policies x = effective_policies(s.policies, s.reverse_proxy[0].policies);
  ASSERT_TRUE(x.forward_auth);
  EXPECT_EQ(x.forward_auth->host, "b");
  EXPECT_TRUE(x.forward_auth->copy_headers.empty());
  Policies y = effective_policies(s.policies, s.reverse_proxy[1].policies);
  ASSERT_TRUE(y.forward_auth);
  EXPECT_EQ(y.forward_auth->host, "a");
}

}  // namespace
