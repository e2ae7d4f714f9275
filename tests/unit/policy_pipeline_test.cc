// The pipeline: phase order, static edits (Server, obfuscation, header
// rules), error page choice, access lists and basic_auth with real libcrypt
// hashes (the blocking pool is driven by a local io_context).
#include <crypt.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "policy/password.h"
#include "policy/pipeline.h"

using namespace gh;
using namespace gh::policy;

namespace policy_pipeline_test {

std::string make_hash(const char* prefix, const char* password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // Lowest cost: the tests check verification, not cost.
  EXPECT_NE(crypt_gensalt_rn(prefix, prefix[1] == '2' ? 4 : 1000, nullptr, 0, setting, sizeof setting),
            nullptr);
  crypt_data data{};
  return crypt_r(password, setting, &data);
}

struct Req {
  std::vector<http::Field> fields;
  http::RequestHead head;
  Exchange ex;
  explicit Req(std::string_view ip = "127.0.0.1", std::vector<http::Field> f = {}) : fields(std::move(f)) {
    head.method = "GET";
    head.path = head.normalized = "/";
    head.fields = fields;
    ex.request = &head;
    ex.client_ip = *core::parse_ip(ip);
    ex.client_ip_str = ip;
    ex.now_ms = 1000;
  }
};

// Runs the request phase to its end, waiting for suspended policies.
Verdict run(const Pipeline& p, Exchange& ex) {
  Verdict v = p.run_request(ex);
  if (v != Verdict::suspend) return v;
  net::asio::io_context io;
  Verdict out = Verdict::suspend;
  net::asio::co_spawn(io.get_executor(), [&]() -> net::awaitable<void> { out = co_await p.run_rest(ex); },
                      net::asio::detached);
  io.run();
  return out;
}

config::AccessRules acl(std::vector<const char*> allow, std::vector<const char*> deny) {
  config::AccessRules a;
  for (auto s : allow) a.allow.push_back(*core::Cidr::parse(s));
  for (auto s : deny) a.deny.push_back(*core::Cidr::parse(s));
  return a;
}

TEST(FieldEdits, RemoveSetAppendAreCaseInsensitive) {
  FieldEdits e;
  e.append("X-A", "1");
  e.remove("x-a");   // a later remove drops the earlier append too
  EXPECT_TRUE(e.drops("X-A"));
  EXPECT_TRUE(e.added().empty());
  e.set("X-B", "2");
  EXPECT_TRUE(e.drops("x-b"));
  ASSERT_EQ(e.added().size(), 1u);
  EXPECT_EQ(e.added()[0].value, "2");
  e.append_copy("X-C", std::string("3"));
  EXPECT_EQ(e.added()[1].value, "3");
}

TEST(Pipeline, ServerFieldIsReplacedByDefault) {
  Pipeline p;
  EXPECT_TRUE(p.response_edits().drops("Server"));
  ASSERT_EQ(p.response_edits().added().size(), 1u);
  EXPECT_EQ(p.response_edits().added()[0].value, "gatehouse");
  EXPECT_FALSE(p.acts_on_request());
  EXPECT_FALSE(p.hides_backends());

  config::Policies none;
  none.server_header = "";
  Pipeline q(none);
  EXPECT_TRUE(q.response_edits().drops("server"));
  EXPECT_TRUE(q.response_edits().added().empty());
}

TEST(Pipeline, ObfuscateDropsBannersAndHidesBackends) {
  config::Policies c;
  c.obfuscate = true;
  Pipeline p(c);
  for (const char* n : {"X-Powered-By", "x-aspnet-version", "X-AspNetMvc-Version", "X-Runtime", "X-Generator"})
    EXPECT_TRUE(p.response_edits().drops(n)) << n;
  EXPECT_TRUE(p.hides_backends());
}

TEST(Pipeline, HeaderRulesRemoveThenSetThenAdd) {
  config::Policies c;
  c.headers = config::HeaderRules{};
  c.headers->request.remove = {"x-debug"};
  c.headers->request.set = {{"X-Env", "prod"}};
  c.headers->request.add = {{"X-Env", "extra"}};
  c.headers->response.remove = {"server"};   // after server_header: no Server at all
  Pipeline p(c);
  const FieldEdits& up = p.upstream_edits();
  EXPECT_TRUE(up.drops("X-Debug"));
  EXPECT_TRUE(up.drops("x-env"));
  ASSERT_EQ(up.added().size(), 2u);
  EXPECT_EQ(up.added()[0].value, "prod");
  EXPECT_EQ(up.added()[1].value, "extra");
  EXPECT_TRUE(p.response_edits().added().empty());
}

TEST(Pipeline, ErrorPagesExactStatusBeatsClassAndBackendErrorsNeedIntercept) {
  config::Policies c;
  c.error_pages = std::vector<config::ErrorPage>{
      {500, 599, "/5xx", "text/plain", "class"}, {502, 502, "/502", "text/html", "exact"}};
  Pipeline p(c);
  ASSERT_TRUE(p.error_page(502, false));
  EXPECT_EQ(p.error_page(502, false)->body, "exact");
  EXPECT_EQ(p.error_page(503, false)->body, "class");
  EXPECT_EQ(p.error_page(404, false), nullptr);
  EXPECT_EQ(p.error_page(200, false), nullptr);
  EXPECT_EQ(p.error_page(502, true), nullptr);
  c.intercept_errors = true;
  Pipeline q(c);
  EXPECT_TRUE(q.intercepts_errors());
  EXPECT_EQ(q.error_page(500, true)->body, "class");
}

TEST(Pipeline, AccessDenyWinsAndAllowIsExclusive) {
  config::Policies c;
  c.access = acl({"10.0.0.0/8"}, {"10.0.0.5"});
  Pipeline p(c);
  EXPECT_TRUE(p.acts_on_request());
  Req in("10.1.2.3");
  EXPECT_EQ(run(p, in.ex), Verdict::next);
  Req denied("10.0.0.5");
  EXPECT_EQ(run(p, denied.ex), Verdict::answered);
  EXPECT_EQ(denied.ex.answer->status, 403);
  EXPECT_STREQ(denied.ex.refused_by, "access");
  EXPECT_STREQ(denied.ex.answer->error, "http_request_denied");
  EXPECT_NE(denied.ex.answer->details.find("access"), std::string::npos);
  Req outside("192.168.1.1");
  EXPECT_EQ(run(p, outside.ex), Verdict::answered);
  Req v6("::1");
  EXPECT_EQ(run(p, v6.ex), Verdict::answered);
}

config::BasicAuth users(std::vector<std::pair<std::string, std::string>> list) {
  config::BasicAuth b;
  b.realm = "Staff";
  for (auto& [u, h] : list) b.users.push_back({u, h});
  return b;
}

TEST(Password, VerifiesBcryptAndShaCryptThroughLibcrypt) {
  for (const char* prefix : {"$2b$", "$5$", "$6$"}) {
    std::string h = make_hash(prefix, "s3cret");
    EXPECT_TRUE(verify_password("s3cret", h)) << prefix;
    EXPECT_FALSE(verify_password("s3cres", h)) << prefix;
    EXPECT_FALSE(verify_password("", h)) << prefix;
  }
  std::string y = make_hash("$2b$", "pw");
  y[2] = 'y';   // Apache's $2y$ is the same algorithm
  EXPECT_TRUE(verify_password("pw", y));
  EXPECT_FALSE(verify_password("pw", "not a hash"));
}

// "Basic " + base64(user:password)
std::string basic(const std::string& cred) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  size_t i = 0;
  for (; i + 2 < cred.size(); i += 3) {
    unsigned v = (unsigned char)cred[i] << 16 | (unsigned char)cred[i + 1] << 8 | (unsigned char)cred[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += t[(v >> k) & 63];
  }
  if (cred.size() - i == 1) {
    unsigned v = (unsigned char)cred[i] << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (cred.size() - i == 2) {
    unsigned v = (unsigned char)cred[i] << 16 | (unsigned char)cred[i + 1] << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

TEST(Pipeline, BasicAuthChallengesChecksAndCaches) {
  config::Policies c;
  c.basic_auth = users({{"alice", make_hash("$2b$", "wonder")}, {"bob", make_hash("$6$", "builder")}});
  Pipeline p(c);
  EXPECT_TRUE(p.upstream_edits().drops("Authorization"));   // never sent upstream

  Req none;
  EXPECT_EQ(run(p, none.ex), Verdict::answered);
  EXPECT_EQ(none.ex.answer->status, 401);
  ASSERT_EQ(none.ex.answer->fields.size(), 1u);
  EXPECT_EQ(none.ex.answer->fields[0].first, "WWW-Authenticate");
  EXPECT_NE(none.ex.answer->fields[0].second.find("Basic realm=\"Staff\""), std::string::npos);

  for (const char* bad : {"alice:wrong", "eve:wonder", "alice", ""}) {
    std::string h = basic(bad);
    Req r("127.0.0.1", {{"Authorization", h}});
    EXPECT_EQ(run(p, r.ex), Verdict::answered) << bad;
    EXPECT_STREQ(r.ex.refused_by, "basic_auth");
  }
  Req junk("127.0.0.1", {{"Authorization", "Basic !!!!"}});
  EXPECT_EQ(run(p, junk.ex), Verdict::answered);
  Req bearer("127.0.0.1", {{"Authorization", "Bearer abc"}});
  EXPECT_EQ(run(p, bearer.ex), Verdict::answered);

  std::string good = basic("alice:wonder");
  Req first("127.0.0.1", {{"authorization", good}});
  EXPECT_EQ(p.run_request(first.ex), Verdict::suspend);   // not cached yet: libcrypt runs
  EXPECT_EQ(run(p, first.ex), Verdict::next);
  Req again("127.0.0.1", {{"Authorization", good}});
  EXPECT_EQ(p.run_request(again.ex), Verdict::next);      // cached: no hashing
  Req used("127.0.0.1", {{"Authorization", good}});
  used.ex.now_ms += 50'000;                                  // each use extends it
  EXPECT_EQ(p.run_request(used.ex), Verdict::next);
  Req later("127.0.0.1", {{"Authorization", good}});
  later.ex.now_ms += 50'000 + 61'000;                       // 61 s unused: checked again
  EXPECT_EQ(p.run_request(later.ex), Verdict::suspend);
  std::string bob = basic("bob:builder");   // (the fields are views: keep the value alive)
  Req sha("127.0.0.1", {{"Authorization", bob}});
  EXPECT_EQ(run(p, sha.ex), Verdict::next);
}

TEST(Pipeline, BasicAuthRefusesChecksBeyondTheQueueBound) {
  config::Policies c;
  c.basic_auth = users({{"alice", make_hash("$5$", "pw")}});
  Pipeline p(c);
  // 400 requests with distinct wrong passwords at once: all suspend before
  // any check completes (one io_context runs them in turn), so the first
  // 256 queue for libcrypt and the rest are refused with 503 at once.
  constexpr int kN = 400;
  std::vector<std::string> values;
  for (int i = 0; i < kN; ++i) values.push_back(basic("alice:guess" + std::to_string(i)));
  std::vector<std::unique_ptr<Req>> reqs;
  net::asio::io_context io;
  int refused_401 = 0, refused_503 = 0;
  for (int i = 0; i < kN; ++i) {
    reqs.push_back(std::make_unique<Req>("127.0.0.1", std::vector<http::Field>{{"Authorization", values[i]}}));
    Exchange& ex = reqs.back()->ex;
    net::asio::co_spawn(io.get_executor(), [&p, &ex, &refused_401, &refused_503]() -> net::awaitable<void> {
      Verdict v = p.run_request(ex);
      if (v == Verdict::suspend) v = co_await p.run_rest(ex);
      if (v == Verdict::answered && ex.answer->status == 401) ++refused_401;
      if (v == Verdict::answered && ex.answer->status == 503) ++refused_503;
    }, net::asio::detached);
  }
  io.run();
  EXPECT_EQ(refused_401, 256);
  EXPECT_EQ(refused_503, kN - 256);
}

TEST(Pipeline, AccessRunsBeforeBasicAuth) {
  config::Policies c;
  c.access = acl({}, {"127.0.0.1"});
  c.basic_auth = users({{"alice", make_hash("$5$", "pw")}});
  Pipeline p(c);
  Req r;   // no credentials: access answers first
  EXPECT_EQ(run(p, r.ex), Verdict::answered);
  EXPECT_STREQ(r.ex.refused_by, "access");
  EXPECT_EQ(r.ex.answer->status, 403);
}

}  // namespace policy_pipeline_test
