// ssl.acme (CONTRACT "L4 streams, PROXY protocol, ACME"): keys, defaults
// and the errors a wrong setting gets.
#include <gtest/gtest.h>

#include <filesystem>

#include "config_errors.h"
#include "temp_dir.h"

namespace gh::config {
namespace {

using config_test::load;
using config_test::mentions;
using config_test::only_error;

const char* kRoutes =
    "server:\n"
    "  port: 8080\n"
    "  reverse_proxy:\n"
    "    - path: /\n"
    "      domains: [App.Example.COM, '*.wild.example.com', 10.0.0.1, www.example.com]\n"
    "      backends: [{address: 127.0.0.1:9000}]\n"
    "    - path: /b\n"
    "      domains: [app.example.com]\n"
    "      backends: [{address: 127.0.0.1:9001}]\n";

TEST(ConfigAcme, DomainsDefaultToTheRoutesExactNamesAndStorageToTheConfigsDirectory) {
  auto r = load(std::string(kRoutes) +
                "ssl:\n  enabled: true\n  port: 8443\n"
                "  acme:\n    email: ops@example.com\n"
                "    directory: https://acme.example/dir\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  ASSERT_TRUE(r.config->ssl.acme);
  const Acme& a = *r.config->ssl.acme;
  EXPECT_EQ(a.domains, (std::vector<std::string>{"app.example.com", "www.example.com"}));
  EXPECT_EQ(a.email, "ops@example.com");
  EXPECT_EQ(a.directory, "https://acme.example/dir");
  std::filesystem::path storage(a.storage);
  EXPECT_TRUE(storage.is_absolute()) << a.storage;
  EXPECT_EQ(storage.filename(), "acme");
  // No cert_file: a placeholder serves until the CA issues.
  EXPECT_TRUE(r.config->ssl.cert_file.empty());
}

TEST(ConfigAcme, ListedDomainsAreLowerCasedAndDeduplicated) {
  auto r = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                "    domains: [A.Example.com, a.example.com., b.example.com]\n"
                "    storage: /var/lib/gatehouse/acme\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_EQ(r.config->ssl.acme->domains, (std::vector<std::string>{"a.example.com", "b.example.com"}));
  EXPECT_EQ(r.config->ssl.acme->storage, "/var/lib/gatehouse/acme");
}

TEST(ConfigAcme, CertFileStillServesWhenGiven) {
  // Both files must exist when given; a missing one is the usual error.
  auto r = load("ssl:\n  enabled: true\n  cert_file: /nonexistent/c.pem\n"
                "  acme: {directory: 'https://ca/dir', domains: [a.example.com]}\n");
  ASSERT_FALSE(r.config);
  bool named = false, key_missing = false;
  for (const Error& e : r.errors) {
    named = named || mentions(e, "/nonexistent/c.pem");
    key_missing = key_missing || mentions(e, "'key_file' is missing");
  }
  EXPECT_TRUE(named);
  EXPECT_TRUE(key_missing) << "a cert_file still needs its key with acme";
}

TEST(ConfigAcme, Errors) {
  struct Case {
    std::string text;
    int line, col;
    std::string says;
  };
  const std::string head = "ssl:\n  enabled: true\n  acme:\n";
  const Case cases[] = {
      {head + "    directory: http://ca/dir\n    domains: [a.example.com]\n", 4, 16,
       "'directory' must be an https:// URL"},
      {head + "    domains: [a.example.com]\n", 4, 5, "ssl.acme needs 'directory'"},
      {head + "    directory: https://ca/dir\n    domains: ['*.example.com']\n", 5, 15,
       "a wildcard needs the DNS-01 challenge"},
      {head + "    directory: https://ca/dir\n    domains: [10.1.2.3]\n", 5, 15,
       "not an IP address"},
      {head + "    directory: https://ca/dir\n    domains: ['bad_name!.com']\n", 5, 15,
       "acme domain"},
      {head + "    directory: https://ca/dir\n    domains: []\n", 5, 14, "'domains' is empty"},
      {head + "    directory: https://ca/dir\n", 4, 5, "ssl.acme has no names"},
      {head + "    directory: https://ca/dir\n    domains: [a.example.com]\n    email: nobody\n", 6,
       12, "is not an e-mail address"},
      {head + "    directory: https://ca/dir\n    domains: [a.example.com]\n"
              "    ca_file: /nonexistent/ca.pem\n",
       6, 14, "/nonexistent/ca.pem"},
      {head + "    directory: https://ca/dir\n    domains: [a.example.com]\n    storgae: ./x\n", 6,
       5, "did you mean 'storage'?"},
      {"ssl:\n  enabled: true\n  acme: yes\n", 3, 9, "'acme' must be a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto r = load(c.text);
    const Error& e = only_error(r, c.line, c.col);
    EXPECT_TRUE(mentions(e, c.says)) << e.str();
  }
}

TEST(ConfigAcme, WithoutSslEnabledItIsOnlyAWarning) {
  auto r = load("ssl:\n  acme: {directory: 'https://ca/dir', domains: [a.example.com]}\n");
  ASSERT_TRUE(r.config);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(mentions(r.warnings[0], "no effect while ssl is not enabled"));
}

TEST(ConfigAcme, RoutesWithOnlyWildcardsLeaveNothingToOrder) {
  auto r = load("server:\n  reverse_proxy:\n    - path: /\n      domains: ['*.example.com']\n"
                "      backends: [{address: 127.0.0.1:9000}]\n"
                "ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n");
  const Error& e = only_error(r, 9, 5);
  EXPECT_TRUE(mentions(e, "ssl.acme has no names")) << e.str();
}

// An sni stream relays the hellos of its names untouched: an ACME
// certificate for one could never serve, nor tls-alpn-01 be answered.
TEST(ConfigAcme, AnExplicitNameAnSniStreamPassesThroughIsAnError) {
  for (const char* sni : {"b.example.com", "'*.example.com'"}) {
    SCOPED_TRACE(sni);
    auto r = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                  "    domains: [a.other.com, B.example.com]\n"
                  "streams:\n  - sni: [" + std::string(sni) + "]\n"
                  "    backends: [{address: 127.0.0.1:1}]\n");
    const Error& e = only_error(r, 5, 28);
    EXPECT_TRUE(mentions(e, "is passed through by the sni stream at 7:5")) << e.str();
    EXPECT_TRUE(mentions(e, "could never be served")) << e.str();
  }
}

TEST(ConfigAcme, AWildcardSniMatchesOneLabelOnly) {
  auto r = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                "    domains: [x.b.example.com]\n"
                "streams:\n  - sni: ['*.example.com']\n    backends: [{address: 127.0.0.1:1}]\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_EQ(r.config->ssl.acme->domains, std::vector<std::string>{"x.b.example.com"});
}

TEST(ConfigAcme, DefaultNamesLeaveOutWhatSniStreamsPassThrough) {
  const std::string routes =
      "server:\n  reverse_proxy:\n    - path: /\n      domains: [app.test, db.test]\n"
      "      backends: [{address: 127.0.0.1:9000}]\n"
      "ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n";
  auto r = load(routes + "streams:\n  - sni: [db.test]\n    backends: [{address: 127.0.0.1:1}]\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_EQ(r.config->ssl.acme->domains, std::vector<std::string>{"app.test"});

  auto none = load(routes + "streams:\n  - sni: ['*.test']\n    backends: [{address: 127.0.0.1:1}]\n");
  const Error& e = only_error(none, 9, 5);
  EXPECT_TRUE(mentions(e, "ssl.acme has no names")) << e.str();
}

TEST(ConfigAcme, NamesDifferingInCaseAreOrderedOnceWithAWarning) {
  auto r = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                "    domains: [a.example.com, A.Example.com]\n");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_EQ(r.config->ssl.acme->domains, std::vector<std::string>{"a.example.com"});
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].line, 5);
  EXPECT_EQ(r.warnings[0].col, 30);
  EXPECT_TRUE(mentions(r.warnings[0], "already listed (line 5)")) << r.warnings[0].str();
}

TEST(ConfigAcme, StorageMustBeCreatable) {
  auto r = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                "    domains: [a.example.com]\n    storage: /proc/nope/acme\n");
  const Error& e = only_error(r, 6, 14);
  EXPECT_TRUE(mentions(e, "acme 'storage' /proc/nope/acme")) << e.str();
  EXPECT_TRUE(mentions(e, "cannot create a directory in /proc")) << e.str();

  gh::testing::TempDir d("cfg-acme");
  const std::string file = d.write("f", "x");
  auto under_file = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                         "    domains: [a.example.com]\n    storage: " + file + "/acme\n");
  const Error& e2 = only_error(under_file, 6, 14);
  EXPECT_TRUE(mentions(e2, "is not a directory")) << e2.str();

  auto fine = load("ssl:\n  enabled: true\n  acme:\n    directory: https://ca/dir\n"
                   "    domains: [a.example.com]\n    storage: " + d.path().string() + "/new/acme\n");
  EXPECT_TRUE(fine.errors.empty()) << fine.errors[0].str();
}

}  // namespace
}  // namespace gh::config
