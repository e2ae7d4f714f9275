// The waf policy (docs/waf.md) through the pipeline's request body phase:
// a small rule file of our own (fast) for block, detect, bodies, a cut body
// and the rule's own status; then the OWASP CRS (when installed) on classic
// attack strings in the query, a header, urlencoded and JSON bodies, against
// ordinary browser and API requests, and paranoia level 2 against level 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/waf_rules.h"
#include "policy/pipeline.h"

#include "temp_dir.h"

using namespace gh;
using namespace gh::policy;
namespace fs = std::filesystem;

namespace policy_waf_test {

// One request as the session would describe it.
struct Req {
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "example.com"},
      {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"},
      {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
      {"Accept-Language", "en-US,en;q=0.5"},
      {"Accept-Encoding", "gzip, deflate, br"}};
  std::string body;
  bool complete = true;
  int version = 11;
};

struct Outcome {
  Verdict verdict;
  Exchange ex;
};

Outcome run(const Pipeline& p, const Req& r) {
  std::vector<http::Field> fields;
  for (const auto& [n, v] : r.headers) fields.push_back(http::Field{n, v});
  http::RequestHead head;
  head.method = r.method;
  head.path = r.path;
  head.authority = "example.com";
  head.fields = fields;
  head.version = r.version;
  Outcome o{Verdict::next, {}};
  o.ex.request = &head;
  o.ex.client_ip_str = "192.0.2.7";
  EXPECT_EQ(p.run_request(o.ex), Verdict::next);
  o.verdict = p.run_request_body(o.ex, r.body, r.complete);
  o.ex.request = nullptr;
  return o;
}

Req post(std::string path, std::string type, std::string body) {
  Req r;
  r.method = "POST";
  r.path = std::move(path);
  r.headers.emplace_back("Content-Type", std::move(type));
  r.headers.emplace_back("Content-Length", std::to_string(body.size()));
  r.body = std::move(body);
  return r;
}

class OwnRules : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "own.conf") <<
        "SecRule ARGS \"@contains evil\" \"id:10001,phase:2,deny,msg:'evil argument'\"\n"
        "SecRule REQUEST_HEADERS:X-Test \"@streq teapot\" \"id:10002,phase:1,deny,status:418\"\n"
        "SecRule REQUEST_URI \"@contains /noted\" \"id:10003,phase:1,pass,log,msg:'noted'\"\n";
  }
  Pipeline pipeline(const std::string& waf) {
    config::LoadResult r = config::load_string(
        "server:\n  reverse_proxy:\n    - path: /\n      waf: " + waf + "\n", (dir_ / "gh.yaml").string());
    EXPECT_TRUE(r.errors.empty()) << r.errors[0].str();
    conf_ = std::move(*r.config);
    return Pipeline(config::effective_policies(conf_.server.policies, conf_.server.reverse_proxy[0].policies));
  }
  gh::testing::TempDir dir_{"wafp"};
  config::Config conf_;
};

TEST_F(OwnRules, BlockAnswers403NamingTheRule) {
  Pipeline p = pipeline("{rules: [own.conf]}");
  EXPECT_EQ(p.request_body_wanted(), 128u * 1024 + 1);
  EXPECT_TRUE(p.acts_on_request());
  Outcome o = run(p, [] { Req r; r.path = "/search?q=evil"; return r; }());
  ASSERT_EQ(o.verdict, Verdict::answered);
  EXPECT_STREQ(o.ex.refused_by, "waf");
  EXPECT_EQ(o.ex.answer->status, 403);
  EXPECT_EQ(o.ex.answer->details, "waf: denied by rule 10001");
  EXPECT_STREQ(o.ex.noted_by, "waf");
  EXPECT_EQ(o.ex.note, "10001");

  o = run(p, [] { Req r; r.path = "/search?q=good"; return r; }());
  EXPECT_EQ(o.verdict, Verdict::next);
  EXPECT_EQ(o.ex.note, "");
  EXPECT_STREQ(o.ex.noted_by, "");
}

TEST_F(OwnRules, BodiesAreInspected) {
  Pipeline p = pipeline("{rules: [own.conf]}");
  EXPECT_EQ(run(p, post("/f", "application/x-www-form-urlencoded", "a=1&b=evil")).verdict, Verdict::answered);
  EXPECT_EQ(run(p, post("/f", "application/json", R"({"a":{"b":["evil"]}})")).verdict, Verdict::answered);
  EXPECT_EQ(run(p, post("/f", "application/json", R"({"a":{"b":["fine"]}})")).verdict, Verdict::next);
  // A complete body its processor cannot parse is refused (400), a cut one is not.
  Outcome o = run(p, post("/f", "application/json", R"({"a":)"));
  ASSERT_EQ(o.verdict, Verdict::answered);
  EXPECT_EQ(o.ex.answer->status, 400);
  EXPECT_NE(o.ex.answer->details.find("200002"), std::string::npos);
}

TEST_F(OwnRules, CutBodyIsInspectedAsFarAsItGoes) {
  Pipeline p = pipeline("{rules: [own.conf], body_limit: 1k}");
  // An attack at the start of a long body: caught in the first bytes.
  std::string body = "q=evil&pad=" + std::string(4000, 'x');
  Req r = post("/f", "application/x-www-form-urlencoded", body.substr(0, 1025));
  r.complete = false;
  EXPECT_EQ(run(p, r).verdict, Verdict::answered);
  // A long JSON body cut mid-syntax is not a parse error.
  std::string json = R"({"a":")" + std::string(4000, 'x') + R"("})";
  r = post("/f", "application/json", json.substr(0, 1025));
  r.complete = false;
  EXPECT_EQ(run(p, r).verdict, Verdict::next);
  // After the limit nothing is seen.
  body = "pad=" + std::string(2000, 'x') + "&q=evil";
  r = post("/f", "application/x-www-form-urlencoded", body.substr(0, 1025));
  r.complete = false;
  EXPECT_EQ(run(p, r).verdict, Verdict::next);
}

TEST_F(OwnRules, RuleStatusAndPassingRulesNoted) {
  Pipeline p = pipeline("{rules: [own.conf]}");
  Req r;
  r.headers.emplace_back("X-Test", "teapot");
  Outcome o = run(p, r);
  ASSERT_EQ(o.verdict, Verdict::answered);
  EXPECT_EQ(o.ex.answer->status, 418);
  // A rule that only logs: noted, not refused.
  r = Req{};
  r.path = "/noted";
  o = run(p, r);
  EXPECT_EQ(o.verdict, Verdict::next);
  EXPECT_EQ(o.ex.note, "10003");
}

TEST_F(OwnRules, DetectOnlyNotes) {
  Pipeline p = pipeline("{rules: [own.conf], mode: detect}");
  Outcome o = run(p, [] { Req r; r.path = "/?q=evil"; return r; }());
  EXPECT_EQ(o.verdict, Verdict::next);
  EXPECT_FALSE(o.ex.answer);
  EXPECT_STREQ(o.ex.noted_by, "waf");
  EXPECT_EQ(o.ex.note, "10001");
}

TEST_F(OwnRules, OffCostsNothing) {
  Pipeline p = pipeline("{rules: [own.conf], mode: off}");
  EXPECT_EQ(p.request_body_wanted(), 0u);
  EXPECT_FALSE(p.acts_on_request());
}

// --- the OWASP CRS ---------------------------------------------------

class Crs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(config::kCrsSetup)) return;
    for (int pl = 1; pl <= 2; ++pl) {
      config::LoadResult r = config::load_string(
          "server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: crs, paranoia_level: " +
              std::to_string(pl) + "}\n",
          "/tmp/gh.yaml");
      ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
      confs_[pl - 1] = new config::Config(std::move(*r.config));
      pipes_[pl - 1] = new Pipeline(confs_[pl - 1]->server.reverse_proxy[0].policies);
    }
  }
  static void TearDownTestSuite() {
    for (int i = 0; i < 2; ++i) {
      delete pipes_[i];
      delete confs_[i];
    }
  }
  void SetUp() override {
    if (!pipes_[0]) GTEST_SKIP() << "modsecurity-crs not installed";
  }
  static inline config::Config* confs_[2] = {};
  static inline Pipeline* pipes_[2] = {};
};

const char* kAttacks[] = {
    "1' OR '1'='1", "1 UNION SELECT username, password FROM users", "<script>alert(1)</script>",
    "../../../../etc/passwd", ";cat /etc/passwd", "$(id)",
};

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

TEST_F(Crs, AttacksBlockedWherever) {
  const Pipeline& p = *pipes_[0];
  for (const char* a : kAttacks) {
    Req q;
    q.path = "/items?id=" + url_encode(a);
    Outcome o = run(p, q);
    ASSERT_EQ(o.verdict, Verdict::answered) << "query: " << a;
    EXPECT_EQ(o.ex.answer->status, 403);
    EXPECT_NE(o.ex.answer->details.find("949110"), std::string::npos) << o.ex.answer->details;
    EXPECT_NE(o.ex.note.find("949110"), std::string::npos);
    EXPECT_GE(std::count(o.ex.note.begin(), o.ex.note.end(), ','), 1) << o.ex.note;

    EXPECT_EQ(run(p, post("/f", "application/x-www-form-urlencoded", "id=" + url_encode(a))).verdict,
              Verdict::answered) << "form: " << a;
    std::string json = std::string(R"({"id":")") + a + "\"}";
    EXPECT_EQ(run(p, post("/api", "application/json", json)).verdict, Verdict::answered)
        << "json: " << a;
  }
  // In a header (CRS reads cookies, Referer and User-Agent among others).
  Req h;
  h.headers.emplace_back("Cookie", "session=1' OR '1'='1");
  EXPECT_EQ(run(p, h).verdict, Verdict::answered);
  h = Req{};
  h.headers[1].second = "<script>alert(1)</script>";
  EXPECT_EQ(run(p, h).verdict, Verdict::answered);
}

TEST_F(Crs, OrdinaryRequestsPass) {
  const Pipeline& p = *pipes_[0];
  std::vector<Req> ok;
  ok.push_back(Req{});
  Req r;
  r.path = "/static/app.js?v=1.2.3";
  r.headers.emplace_back("Referer", "https://example.com/");
  r.headers.emplace_back("Cookie", "session=abc123; theme=dark");
  ok.push_back(r);
  r = Req{};
  r.path = "/search?q=how+to+select+a+union+rep&page=2";
  ok.push_back(r);
  ok.push_back(post("/api/orders", "application/json",
                    R"({"item":"book","qty":2,"note":"leave at the door, please","tags":["gift","fast"]})"));
  ok.push_back(post("/login", "application/x-www-form-urlencoded", "user=alice&password=correct+horse&remember=on"));
  ok.push_back(post("/upload", "multipart/form-data; boundary=XyZ",
                    "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
                    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n0000\r\n--XyZ--\r\n"));
  Req h2;
  h2.version = 20;
  h2.headers.erase(h2.headers.begin());   // :authority, no Host field
  ok.push_back(h2);
  for (const Req& q : ok) {
    Outcome o = run(p, q);
    EXPECT_EQ(o.verdict, Verdict::next) << q.method << " " << q.path << ": "
                                        << (o.ex.answer ? o.ex.answer->details : "") << " " << o.ex.note;
  }
}

TEST_F(Crs, MethodsTheCrsRefusesUnlessAFileBeforeItAllowsThem) {
  Req put = post("/api/orders/7", "application/json", R"({"qty":3})");
  put.method = "PUT";
  Outcome o = run(*pipes_[0], put);
  ASSERT_EQ(o.verdict, Verdict::answered);   // CRS 3.3's default: GET HEAD POST OPTIONS
  EXPECT_NE(o.ex.note.find("911100"), std::string::npos) << o.ex.note;
  const fs::path dir = fs::temp_directory_path() / ("gh-wafm-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "methods.conf")
      << "SecAction \"id:900200,phase:1,pass,t:none,nolog,"
         "setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'\"\n";
  config::LoadResult r = config::load_string(
      "server:\n  reverse_proxy:\n    - path: /\n      waf: {rules: [methods.conf, crs]}\n",
      (dir / "gh.yaml").string());
  fs::remove_all(dir);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  Pipeline p(r.config->server.reverse_proxy[0].policies);
  EXPECT_EQ(run(p, put).verdict, Verdict::next);
}

TEST_F(Crs, ParanoiaTwoSeesMore) {
  // A lone quote and "--": a level 2 rule (942431/942432 family), not level 1.
  Req r;
  r.path = "/p?name=" + url_encode("O'Brien -- ' --");
  EXPECT_EQ(run(*pipes_[0], r).verdict, Verdict::next);
  EXPECT_EQ(run(*pipes_[1], r).verdict, Verdict::answered);
}

}  // namespace policy_waf_test
