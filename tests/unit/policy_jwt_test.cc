// The jwt policy on a request: where the token comes from, the 401
// challenges (RFC 6750 3), claims_to_headers, and forged fields removed.
#include <gtest/gtest.h>

#include "jose/jwt.h"
#include "jose_test_keys.h"
#include "policy/kinds.h"
#include "policy/pipeline.h"

using namespace gh;
using namespace gh::policy;
using namespace gh::jose::test;

namespace policy_jwt_test {

const PrivateKey& key() {
  static PrivateKey k = ed25519_key();
  return k;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

config::Jwt conf() {
  config::Jwt c;
  c.keys = jose::parse_jwks(jwks({public_jwk(key(), "k1")})).keys;
  c.issuer = "https://idp";
  c.audiences = {"api"};
  c.claims_to_headers = {{"sub", "X-User"}, {"roles", "X-Roles"}, {"admin", "X-Admin"},
                         {"level", "X-Level"}, {"note", "X-Note"}};
  return c;
}

json good_claims() {
  return {{"sub", "alice"}, {"iss", "https://idp"}, {"aud", "api"}, {"exp", now_s() + 600},
          {"roles", {"a", "b"}}, {"admin", true}, {"level", 3}};
}

std::string bearer(const json& claims) { return "Bearer " + token(key(), {{"alg", "EdDSA"}, {"kid", "k1"}}, claims); }

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Req {
  std::vector<http::Field> fields;
  std::vector<std::string> store;
  http::RequestHead head;
  Exchange ex;
  explicit Req(Fields f) {
    store.reserve(2 * f.size());
    for (auto& [n, v] : f) {
      store.push_back(n);
      store.push_back(v);
      fields.push_back({store[store.size() - 2], store.back()});
    }
    head.method = "GET";
    head.path = head.normalized = "/";
    head.fields = fields;
    ex.request = &head;
  }
};

std::string added(const Exchange& ex, std::string_view name) {
  for (const auto& f : ex.upstream.added())
    if (http::iequals(f.name, name)) return std::string(f.value);
  return "<none>";
}

std::string challenge(const Exchange& ex) {
  for (const auto& [n, v] : ex.answer->fields)
    if (n == "WWW-Authenticate") return v;
  return "<none>";
}

TEST(JwtPolicy, ValidTokenSetsClaimFields) {
  auto p = make_jwt(conf());
  Req r(Fields{{"Authorization", bearer(good_claims())}});
  ASSERT_EQ(p->on_request(r.ex), Verdict::next) << (r.ex.answer ? r.ex.answer->details : "");
  EXPECT_EQ(added(r.ex, "X-User"), "alice");
  EXPECT_EQ(added(r.ex, "X-Roles"), "a, b");
  EXPECT_EQ(added(r.ex, "X-Admin"), "true");
  EXPECT_EQ(added(r.ex, "X-Level"), "3");
  EXPECT_EQ(added(r.ex, "X-Note"), "<none>");   // claim absent
  // The scheme is case-insensitive.
  Req lower(Fields{{"authorization", "bEaReR " + bearer(good_claims()).substr(7)}});
  EXPECT_EQ(p->on_request(lower.ex), Verdict::next);
}

TEST(JwtPolicy, ClientCopiesOfClaimFieldsAreRemovedAndAuthorizationKept) {
  auto p = make_jwt(conf());
  FieldEdits edits;
  p->static_upstream_edits(edits);
  EXPECT_TRUE(edits.drops("x-user"));
  EXPECT_TRUE(edits.drops("X-Roles"));
  EXPECT_FALSE(edits.drops("authorization"));
}

TEST(JwtPolicy, UnsafeClaimValuesAreNotSent) {
  auto p = make_jwt(conf());
  json c = good_claims();
  c["sub"] = "alice\r\nX-Admin: true";
  c["roles"] = json::array({"a", 1});
  c["admin"] = json::object({{"x", 1}});
  c["level"] = nullptr;
  c["note"] = std::string("a\0b", 3);
  Req r(Fields{{"Authorization", bearer(c)}});
  ASSERT_EQ(p->on_request(r.ex), Verdict::next);
  EXPECT_TRUE(r.ex.upstream.added().empty());
}

TEST(JwtPolicy, MissingTokenGetsABareChallenge) {
  auto p = make_jwt(conf());
  Req none(Fields{});
  ASSERT_EQ(p->on_request(none.ex), Verdict::answered);
  EXPECT_EQ(none.ex.answer->status, 401);
  EXPECT_EQ(challenge(none.ex), "Bearer");
  EXPECT_EQ(none.ex.answer->details, "jwt: no bearer token");
  Req basic(Fields{{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  ASSERT_EQ(p->on_request(basic.ex), Verdict::answered);
  EXPECT_EQ(challenge(basic.ex), "Bearer");
}

TEST(JwtPolicy, InvalidTokensGetInvalidToken) {
  auto p = make_jwt(conf());
  json expired = good_claims();
  expired["exp"] = now_s() - 3600;
  json wrong_aud = good_claims();
  wrong_aud["aud"] = "other";
  struct Case {
    std::string auth;
    std::string details;
  } cases[] = {
      {bearer(expired), "jwt: expired"},
      {bearer(wrong_aud), "jwt: wrong audience"},
      {"Bearer not.a.token", "jwt: malformed token"},
      {"Bearer " + std::string(jose::kMaxTokenBytes + 1, 'a'), "jwt: token too large"},
  };
  for (const Case& c : cases) {
    Req r(Fields{{"Authorization", c.auth}});
    ASSERT_EQ(p->on_request(r.ex), Verdict::answered) << c.details;
    EXPECT_EQ(r.ex.answer->status, 401);
    EXPECT_EQ(r.ex.answer->details, c.details);
    EXPECT_EQ(challenge(r.ex).rfind("Bearer error=\"invalid_token\", error_description=\"", 0), 0u)
        << challenge(r.ex);
    EXPECT_TRUE(r.ex.upstream.added().empty());
  }
  Req two(Fields{{"Authorization", bearer(good_claims())}, {"Authorization", bearer(good_claims())}});
  ASSERT_EQ(p->on_request(two.ex), Verdict::answered);
}

TEST(JwtPolicy, ClockSkewIsConfigurable) {
  config::Jwt c = conf();
  c.clock_skew = std::chrono::seconds(120);
  auto p = make_jwt(c);
  json late = good_claims();
  late["exp"] = now_s() - 60;
  Req r(Fields{{"Authorization", bearer(late)}});
  EXPECT_EQ(p->on_request(r.ex), Verdict::next);
  auto strict = make_jwt(conf());   // 30 s
  Req r2(Fields{{"Authorization", bearer(late)}});
  EXPECT_EQ(strict->on_request(r2.ex), Verdict::answered);
}

// A verified token is remembered per worker; the memory belongs to the
// policy that verified it, so a reload with other keys (a new policy) does
// not trust it, and its fields come back the same.
TEST(JwtPolicy, RememberedTokensAreThePolicysOwn) {
  auto p = make_jwt(conf());
  const std::string auth = bearer(good_claims());
  for (int i = 0; i < 2; ++i) {
    Req r(Fields{{"Authorization", auth}});
    ASSERT_EQ(p->on_request(r.ex), Verdict::next);
    EXPECT_EQ(added(r.ex, "X-User"), "alice");
    EXPECT_EQ(added(r.ex, "X-Roles"), "a, b");
  }
  config::Jwt other = conf();
  other.keys = jose::parse_jwks(jwks({public_jwk(ed25519_key(), "k1")})).keys;
  auto reloaded = make_jwt(other);
  Req r(Fields{{"Authorization", auth}});
  ASSERT_EQ(reloaded->on_request(r.ex), Verdict::answered);
  EXPECT_EQ(r.ex.answer->details, "jwt: bad signature");
  EXPECT_TRUE(r.ex.upstream.added().empty());
}

TEST(JwtPolicy, RunsInThePipelineAfterBasicAuthsPlace) {
  config::Policies pol;
  pol.jwt = conf();
  Pipeline pipe(pol);
  Req r(Fields{});
  EXPECT_EQ(pipe.run_request(r.ex), Verdict::answered);
  EXPECT_STREQ(r.ex.refused_by, "jwt");
  EXPECT_TRUE(pipe.upstream_edits().drops("x-user"));
}

}  // namespace policy_jwt_test
