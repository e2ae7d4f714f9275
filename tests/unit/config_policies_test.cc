// Policy keys (CONTRACT "Policies"): where they may appear, route values
// replacing server values, and a FILE:LINE:COL error for every bad value,
// including the htpasswd and error page files they name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

#include "temp_dir.h"
#include "config_errors.h"

using namespace gh::config;
using gh::config_test::load;
namespace fs = std::filesystem;

namespace {

class PolicyFiles : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) { return dir_.write(name, text); }
  gh::testing::TempDir dir_{"policy"};
};

const std::string kBcrypt = "$2y$05$abcdefghijklmnopqrstuuJ3zB1b6XcXa8Yx0m1m8n9pqrsTUVWXy";  // 60 chars
const std::string kSha512 = "$6$saltsalt$" + std::string(86, 'a');

TEST(Policies, NothingSetMeansNothingSet) {
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const Policies& p = r.config->server.policies;
  EXPECT_FALSE(p.server_header || p.obfuscate || p.headers || p.error_pages || p.access ||
               p.basic_auth || p.intercept_errors);
}

TEST(Policies, RouteReplacesServerKeyByKey) {
  LoadResult r = load(
      "server:\n  server_header: edge\n  access: {deny: [10.0.0.5]}\n"
      "  headers: {response: {set: {X-A: '1'}}}\n"
      "  reverse_proxy:\n    - path: /\n      access: {allow: [127.0.0.0/8]}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  Policies eff = effective_policies(r.config->server.policies, r.config->server.reverse_proxy[0].policies);
  EXPECT_EQ(*eff.server_header, "edge");
  ASSERT_TRUE(eff.access);
  EXPECT_TRUE(eff.access->deny.empty());    // replaced, not merged
  EXPECT_EQ(eff.access->allow.size(), 1u);
  ASSERT_TRUE(eff.headers);
  EXPECT_EQ(eff.headers->response.set.size(), 1u);
}

TEST(Policies, HeaderRulesRefuseFramingAndHopByHopFields) {
  for (const char* name : {"Connection", "Transfer-Encoding", "Content-Length", "Upgrade", "TE",
                           "Keep-Alive", "Host", "trailer"}) {
    LoadResult r = load(std::string("server:\n  headers:\n    request:\n      set: {") + name + ": x}\n");
    ASSERT_EQ(r.errors.size(), 1u) << name;
    EXPECT_EQ(r.errors[0].line, 4) << name;
    EXPECT_EQ(r.errors[0].col, 13) << name;
  }
  LoadResult r = load("server:\n  headers:\n    response:\n      remove: [connection]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 16);
}

TEST(Policies, HeaderRulesRefuseNamesThatAreNotTokens) {
  LoadResult r = load("server:\n  headers:\n    request:\n      add: {'X Bad': x}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("token"), std::string::npos) << r.errors[0].str();
  r = load("server:\n  headers:\n    request:\n      sett: {X-A: b}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("set"), std::string::npos) << r.errors[0].str();
}

TEST(Policies, HeaderRulesKeepOrderAndLowerCaseRemovals) {
  LoadResult r = load(
      "server:\n  headers:\n    request: {set: {X-Env: prod}, add: {X-Tag: a}, remove: [X-Debug]}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const HeaderRules& h = *r.config->server.policies.headers;
  ASSERT_EQ(h.request.set.size(), 1u);
  EXPECT_EQ(h.request.set[0].first, "X-Env");
  EXPECT_EQ(h.request.set[0].second, "prod");
  EXPECT_EQ(h.request.remove[0], "x-debug");
  EXPECT_TRUE(h.response.empty());
}

TEST(Policies, AccessListsAreCheckedWhereWritten) {
  LoadResult r = load("server:\n  access:\n    allow: [10.0.0.0/8, nonsense]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].col, 25);
  r = load("server:\n  access:\n    allow: []\n");
  ASSERT_EQ(r.errors.size(), 1u);   // would refuse everyone
  r = load("server:\n  access:\n    deny: [10.0.0.5, 'fd00::/8']\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.policies.access->deny.size(), 2u);
}

TEST(Policies, ServerHeaderAndObfuscate) {
  LoadResult r = load("server:\n  server_header: ''\n  obfuscate: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(*r.config->server.policies.server_header, "");
  EXPECT_TRUE(*r.config->server.policies.obfuscate);
  r = load("server:\n  obfuscate: maybe\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST_F(PolicyFiles, ErrorPagesAreReadAtLoad) {
  std::string page = write("502.html", "<h1>down</h1>");
  std::string cls = write("5xx.txt", "server trouble");
  LoadResult r = load("server:\n  error_pages:\n    502: " + page + "\n    5xx: " + cls + "\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& pages = *r.config->server.policies.error_pages;
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].lo, 502u);
  EXPECT_EQ(pages[0].body, "<h1>down</h1>");
  EXPECT_EQ(pages[0].content_type, "text/html; charset=utf-8");
  EXPECT_EQ(pages[1].lo, 500u);
  EXPECT_EQ(pages[1].hi, 599u);
}

TEST_F(PolicyFiles, ErrorPagesRefuseBadStatusesAndMissingFiles) {
  std::string page = write("p.html", "x");
  LoadResult r = load("server:\n  error_pages:\n    302: " + page + "\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].col, 5);
  r = load("server:\n  error_pages:\n    404: " + (dir_ / "missing.html").string() + "\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].col, 10);
}

TEST_F(PolicyFiles, HtpasswdSkipsLinesOfOnlyWhitespace) {
  std::string f = write("htpasswd", "alice:" + kBcrypt + "\n   \n\t\r\nbob:" + kSha512 + "\n");
  LoadResult r = load("server:\n  basic_auth:\n    users_file: " + f + "\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->server.policies.basic_auth->users.size(), 2u);
}

TEST_F(PolicyFiles, HtpasswdTakesBcryptAndShaCrypt) {
  std::string f = write("htpasswd", "# users\nalice:" + kBcrypt + "\n\nbob:" + kSha512 + "\n");
  LoadResult r = load("server:\n  basic_auth:\n    realm: Staff\n    users_file: " + f + "\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const BasicAuth& b = *r.config->server.policies.basic_auth;
  EXPECT_EQ(b.realm, "Staff");
  ASSERT_EQ(b.users.size(), 2u);
  EXPECT_EQ(b.users[1].user, "bob");
}

TEST_F(PolicyFiles, HtpasswdRefusesWeakEntriesAtTheirLine) {
  std::string f = write("htpasswd", "alice:" + kBcrypt + "\nbob:secret\ncarol:$apr1$abc$def\n"
                        "dave:{SHA}abcdef=\nnocolon\n");
  LoadResult r = load("server:\n  basic_auth:\n    users_file: " + f + "\n");
  ASSERT_EQ(r.errors.size(), 4u);
  for (const Error& e : r.errors) EXPECT_EQ(e.file, f) << e.str();
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].col, 5);
  EXPECT_NE(r.errors[0].message.find("plain"), std::string::npos) << r.errors[0].str();
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_NE(r.errors[1].message.find("MD5"), std::string::npos) << r.errors[1].str();
  EXPECT_EQ(r.errors[2].line, 4);
  EXPECT_NE(r.errors[2].message.find("SHA-1"), std::string::npos) << r.errors[2].str();
  EXPECT_EQ(r.errors[3].line, 5);
}

TEST_F(PolicyFiles, BasicAuthNeedsAUsersFileAndAPlainRealm) {
  LoadResult r = load("server:\n  basic_auth: {realm: x}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("users_file"), std::string::npos);
  std::string f = write("htpasswd", "alice:" + kBcrypt + "\n");
  r = load("server:\n  basic_auth: {realm: 'a\"b', users_file: " + f + "}\n");
  ASSERT_EQ(r.errors.size(), 1u);
}

}  // namespace
