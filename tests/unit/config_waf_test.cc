// `waf` keys (CONTRACT "Policies (wave 2)", docs/waf.md): defaults, each
// key's bad values as FILE:LINE:COL errors, rule files relative to the
// config file, ModSecurity's parse errors at 'rules', one compiled set for
// routes naming the same rules, and a new compile when a file changed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "config/waf_rules.h"

#include "temp_dir.h"

using namespace gh::config;
namespace fs = std::filesystem;

namespace {

class WafConfig : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) { return dir_.write(name, text); }
  LoadResult load(const std::string& text) { return load_string(text, (dir_ / "gh.yaml").string()); }
  gh::testing::TempDir dir_{"waf"};
};

const char* kRule = "SecRule ARGS \"@contains evil\" \"id:10001,phase:2,deny,status:403,msg:'evil'\"\n";

TEST_F(WafConfig, DefaultsAndRouteReplacesServer) {
  write("own.conf", kRule);
  LoadResult r = load(
      "server:\n"
      "  waf: {rules: [own.conf]}\n"
      "  reverse_proxy:\n"
      "    - path: /\n"
      "    - path: /off\n"
      "      waf: {mode: off}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& w = r.config->server.policies.waf;
  ASSERT_TRUE(w);
  EXPECT_EQ(w->mode, Waf::Mode::block);
  EXPECT_FALSE(w->crs);
  ASSERT_EQ(w->rule_files.size(), 1u);
  EXPECT_EQ(w->rule_files[0], (dir_ / "own.conf").string());
  EXPECT_EQ(w->paranoia_level, 1u);
  EXPECT_EQ(w->body_limit, 128u * 1024);
  EXPECT_TRUE(w->rules);
  const auto& off = r.config->server.reverse_proxy[1].policies.waf;
  ASSERT_TRUE(off);
  EXPECT_EQ(off->mode, Waf::Mode::off);
  EXPECT_FALSE(off->rules);   // never compiled
  Policies eff = effective_policies(r.config->server.policies, r.config->server.reverse_proxy[1].policies);
  EXPECT_EQ(eff.waf->mode, Waf::Mode::off);
  eff = effective_policies(r.config->server.policies, r.config->server.reverse_proxy[0].policies);
  EXPECT_EQ(eff.waf->rules, w->rules);
}

TEST_F(WafConfig, AllKeys) {
  write("own.conf", kRule);
  LoadResult r = load(
      "server:\n"
      "  reverse_proxy:\n"
      "    - path: /\n"
      "      waf: {mode: detect, rules: [own.conf], body_limit: 64k}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& w = r.config->server.reverse_proxy[0].policies.waf;
  EXPECT_EQ(w->mode, Waf::Mode::detect);
  EXPECT_EQ(w->body_limit, 64u * 1024);
}

TEST_F(WafConfig, BadValuesAreErrorsAtTheirPlace) {
  write("own.conf", kRule);
  struct Case {
    const char* yaml;
    int line, col;
    const char* says;
  } cases[] = {
      {"{mode: on, rules: [own.conf]}", 4, 19, "block"},
      {"{rules: owasp}", 4, 20, "crs or a list"},
      {"{rules: []}", 4, 20, "no rule file"},
      {"{rules: [missing.conf]}", 4, 21, "missing.conf"},
      {"{rules: crs, paranoia_level: 5}", 4, 41, "4"},
      {"{rules: crs, paranoia_level: 0}", 4, 41, "1"},
      {"{rules: [own.conf], body_limit: 10}", 4, 44, "1k"},
      {"{rules: [own.conf], paranoia: 2}", 4, 32, "unknown key"},
  };
  for (const Case& c : cases) {
    LoadResult r = load(std::string("server:\n  reverse_proxy:\n    - path: /\n      waf: ") + c.yaml + "\n");
    ASSERT_EQ(r.errors.size(), 1u) << c.yaml;
    EXPECT_EQ(r.errors[0].line, c.line) << c.yaml << ": " << r.errors[0].str();
    EXPECT_EQ(r.errors[0].col, c.col) << c.yaml << ": " << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(c.says), std::string::npos) << c.yaml << ": " << r.errors[0].str();
  }
}

TEST_F(WafConfig, ModSecurityParseErrorIsAtRules) {
  write("bad.conf", "SecRule ARGS \"@contains x\" \"id:1,phase:2,deny\"\nSecRuel ARGS x\n");
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [bad.conf]}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 20);
  EXPECT_NE(r.errors[0].message.find("waf rules:"), std::string::npos) << r.errors[0].str();
  EXPECT_NE(r.errors[0].message.find("bad.conf"), std::string::npos) << r.errors[0].str();
  // A duplicated rule id is ModSecurity's error too.
  write("dup.conf", std::string(kRule) + kRule);
  r = load("server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [dup.conf]}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("10001"), std::string::npos) << r.errors[0].str();
}

TEST_F(WafConfig, ParanoiaWithOwnRulesWarns) {
  write("own.conf", kRule);
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [own.conf], paranoia_level: 2}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].message.find("no effect"), std::string::npos);
}

TEST_F(WafConfig, SameRulesCompiledOnceEditedFileCompiledAgain) {
  write("own.conf", kRule);
  const std::string yaml =
      "server:\n"
      "  reverse_proxy:\n"
      "    - path: /a\n"
      "      waf: {rules: [own.conf]}\n"
      "    - path: /b\n"
      "      waf: {rules: [own.conf], mode: detect}\n"
      "    - path: /c\n"
      "      waf: {rules: [own.conf], body_limit: 4k}\n";
  LoadResult r = load(yaml);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto& routes = r.config->server.reverse_proxy;
  EXPECT_EQ(routes[0].policies.waf->rules, routes[1].policies.waf->rules);   // mode is not in the rules
  EXPECT_NE(routes[0].policies.waf->rules, routes[2].policies.waf->rules);   // the body limit is
  // A second load of unchanged files shares the set; an edit makes a new one.
  LoadResult again = load(yaml);
  EXPECT_EQ(again.config->server.reverse_proxy[0].policies.waf->rules, routes[0].policies.waf->rules);
  write("own.conf", std::string(kRule) + "SecRule ARGS \"@contains bad\" \"id:10002,phase:2,deny\"\n");
  LoadResult edited = load(yaml);
  ASSERT_TRUE(edited.errors.empty()) << edited.errors[0].str();
  EXPECT_NE(edited.config->server.reverse_proxy[0].policies.waf->rules, routes[0].policies.waf->rules);
}

TEST_F(WafConfig, CrsAmongRuleFilesKeepsItsPlace) {
  if (!fs::exists(kCrsSetup)) GTEST_SKIP() << "modsecurity-crs not installed";
  write("before.conf",
        "SecAction \"id:900200,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD POST PUT'\"\n");
  write("after.conf", "SecRuleRemoveById 920350\n");
  LoadResult r = load("server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [before.conf, crs, after.conf]}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const Waf& w = *r.config->server.reverse_proxy[0].policies.waf;
  EXPECT_TRUE(w.crs);
  EXPECT_EQ(w.crs_at, 1u);
  std::string err;
  std::vector<std::string> files = waf_rule_files(w, err);
  ASSERT_GT(files.size(), 4u);
  EXPECT_EQ(files[0], (dir_ / "before.conf").string());
  EXPECT_EQ(files[1], kCrsSetup);
  EXPECT_EQ(files.back(), (dir_ / "after.conf").string());
  EXPECT_TRUE(w.rules);
  r = load("server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [crs, crs]}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("twice"), std::string::npos);
}

TEST(WafDirectives, ParanoiaAndBodyLimit) {
  Waf w;
  w.paranoia_level = 3;
  w.body_limit = 4096;
  const std::string d = waf_directives(w);
  EXPECT_NE(d.find("SecRequestBodyLimit 4096\n"), std::string::npos);
  EXPECT_NE(d.find("SecRequestBodyLimitAction ProcessPartial"), std::string::npos);
  EXPECT_NE(d.find("setvar:tx.paranoia_level=3"), std::string::npos);
  EXPECT_NE(d.find("setvar:tx.executing_paranoia_level=3"), std::string::npos);
  w.crs = false;
  EXPECT_EQ(waf_directives(w).find("paranoia"), std::string::npos);
}

TEST(WafDirectives, CrsFilesInLoadOrder) {
  Waf w;
  std::string err;
  std::vector<std::string> files = waf_rule_files(w, err);
  if (!fs::exists(kCrsSetup)) GTEST_SKIP() << "modsecurity-crs not installed";
  ASSERT_GT(files.size(), 10u) << err;
  EXPECT_EQ(files[0], kCrsSetup);
  EXPECT_NE(files[2].find("REQUEST-901-INITIALIZATION.conf"), std::string::npos);
  EXPECT_NE(files.back().find("REQUEST-949-BLOCKING-EVALUATION.conf"), std::string::npos);
  for (const auto& f : files) EXPECT_EQ(f.find("RESPONSE-9"), std::string::npos) << f;
}

}  // namespace
