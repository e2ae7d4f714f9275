// The jwt policy's keys: a jwks_file read and checked at load, FILE:LINE:COL
// errors for every bad value.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "jose/jwk.h"

#include "temp_dir.h"

using namespace gh::config;
namespace fs = std::filesystem;

namespace {

// An Ed25519 public key (RFC 8037 A.2).
const char* kJwks = R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a",
  "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

class JwtConfig : public ::testing::Test {
 protected:
  void SetUp() override { write("jwks.json", kJwks); }
  void write(const std::string& name, const std::string& text) { dir_.write(name, text); }
  LoadResult load(const std::string& jwt) {
    const std::string text = "server:\n  reverse_proxy:\n    - path: /\n      jwt: " + jwt + "\n";
    write("gh.yaml", text);
    return load_file((dir_ / "gh.yaml").string());
  }
  std::string first_error(const LoadResult& r) { return r.errors.empty() ? "<none>" : r.errors[0].str(); }
  gh::testing::TempDir dir_{"jwt"};
};

TEST_F(JwtConfig, LoadsAFileAndEveryKey) {
  LoadResult r = load(
      "{jwks_file: jwks.json, issuer: 'https://idp', audiences: [a, b], clock_skew: 5s,"
      " claims_to_headers: {sub: X-User, email: X-Email}}");
  ASSERT_TRUE(r.errors.empty()) << first_error(r);
  const Jwt& j = *r.config->server.reverse_proxy[0].policies.jwt;
  EXPECT_EQ(j.jwks_file, (dir_ / "jwks.json").string());
  ASSERT_TRUE(j.keys);
  EXPECT_EQ(j.keys->keys.size(), 1u);
  EXPECT_EQ(j.issuer, "https://idp");
  EXPECT_EQ(j.audiences, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(j.clock_skew, std::chrono::seconds(5));
  ASSERT_EQ(j.claims_to_headers.size(), 2u);
  EXPECT_EQ(j.claims_to_headers[1], (std::pair<std::string, std::string>{"email", "X-Email"}));
}

TEST_F(JwtConfig, DefaultsAndUrl) {
  LoadResult r = load("{jwks_url: 'https://idp.example/jwks.json', audiences: api}");
  ASSERT_TRUE(r.errors.empty()) << first_error(r);
  const Jwt& j = *r.config->server.reverse_proxy[0].policies.jwt;
  EXPECT_EQ(j.jwks_url, "https://idp.example/jwks.json");
  EXPECT_FALSE(j.keys);   // fetched by the policy, not the loader
  EXPECT_EQ(j.audiences, std::vector<std::string>{"api"});
  EXPECT_EQ(j.clock_skew, std::chrono::seconds(30));
  EXPECT_EQ(j.jwks_refresh, std::chrono::minutes(5));
  EXPECT_TRUE(r.warnings.empty());
  LoadResult plain = load("{jwks_url: 'http://127.0.0.1:9/jwks'}");
  ASSERT_TRUE(plain.errors.empty());
  ASSERT_EQ(plain.warnings.size(), 1u);
  EXPECT_NE(plain.warnings[0].message.find("plain http"), std::string::npos);
}

TEST_F(JwtConfig, ABrokenJwksFileIsAnErrorAtItsKey) {
  write("bad.json", R"({"keys":[{"kty":"RSA","n":"AQAB"}]})");
  LoadResult r = load("{jwks_file: bad.json}");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 24);
  EXPECT_NE(r.errors[0].message.find("no 'e'"), std::string::npos) << r.errors[0].message;
  write("notjson.json", "{keys");
  EXPECT_NE(first_error(load("{jwks_file: notjson.json}")).find("not JSON"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: missing.json}")).find("missing.json"), std::string::npos);
}

TEST_F(JwtConfig, RefusesBadValues) {
  EXPECT_NE(first_error(load("{issuer: x}")).find("needs 'jwks_file' or 'jwks_url'"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, jwks_url: 'https://x/'}")).find("not both"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_url: 'ftp://x/'}")).find("http:// or https://"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_url: 'https:///x'}")).find("http:// or https://"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, claims_to_headers: {sub: 'X User'}}")).find("not a valid token"),
            std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, claims_to_headers: {sub: Authorization}}"))
                .find("cannot set Authorization"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, claims_to_headers: {sub: Host}}")).find("Host"),
            std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, claims_to_headers: {sub: X-U, email: x-u}}"))
                .find("set from two claims"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, claims_to_headers: [sub]}")).find("must be a map"),
            std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, clock_skew: 1h}")).find("above 10m"), std::string::npos);
  EXPECT_NE(first_error(load("{jwks_file: jwks.json, jwks_refres: 1m}")).find("jwks_refresh"), std::string::npos);
}

TEST_F(JwtConfig, RouteReplacesServer) {
  write("gh2.yaml",
        "server:\n  jwt: {jwks_file: jwks.json, issuer: a}\n  reverse_proxy:\n    - path: /x\n"
        "      jwt: {jwks_file: jwks.json, issuer: b}\n    - path: /y\n");
  LoadResult r = load_file((dir_ / "gh2.yaml").string());
  ASSERT_TRUE(r.errors.empty()) << first_error(r);
  const auto& s = r.config->server;
  EXPECT_EQ(effective_policies(s.policies, s.reverse_proxy[0].policies).jwt->issuer, "b");
  EXPECT_EQ(effective_policies(s.policies, s.reverse_proxy[1].policies).jwt->issuer, "a");
}

}  // namespace
