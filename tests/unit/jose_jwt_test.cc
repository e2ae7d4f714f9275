// JWT verification: every accepted algorithm, every refusal (RFC 7519,
// RFC 7515, RFC 8725), and fixed vectors from RFC 7515 and RFC 8037.
#include <gtest/gtest.h>

#include <openssl/hmac.h>

#include "jose/jwt.h"
#include "jose_test_keys.h"

using namespace gh::jose;
using namespace gh::jose::test;

namespace {

constexpr double kNow = 1'700'000'000;

struct Keys {
  PrivateKey rsa = rsa_key(), ec = ec_key(), ec384 = ec_key("P-384"), ed = ed25519_key(), other_rsa = rsa_key();
  std::shared_ptr<const KeySet> set;
  Keys() {
    JwksParse p = parse_jwks(jwks({public_jwk(rsa, "rsa"), public_jwk(ec, "ec"), public_jwk(ec384, "ec384"),
                                   public_jwk(ed, "ed")}));
    EXPECT_TRUE(p.keys) << p.error;
    set = p.keys;
  }
};
const Keys& keys() {
  static Keys k;
  return k;
}

json claims(double exp = kNow + 600) { return {{"sub", "alice"}, {"exp", exp}, {"iss", "https://idp"}, {"aud", "api"}}; }

Failure check(const std::string& tok, const ClaimRules& rules = {}) {
  return verify_jwt(tok, *keys().set, rules, kNow).failure;
}

TEST(Jwt, EveryAlgorithmVerifies) {
  const Keys& k = keys();
  struct Case {
    const PrivateKey& key;
    const char* alg;
    const char* kid;
  } cases[] = {{k.rsa, "RS256", "rsa"},  {k.rsa, "RS384", "rsa"},    {k.rsa, "RS512", "rsa"},
               {k.rsa, "PS256", "rsa"},  {k.rsa, "PS384", "rsa"},    {k.rsa, "PS512", "rsa"},
               {k.ec, "ES256", "ec"},    {k.ec384, "ES384", "ec384"}, {k.ed, "EdDSA", "ed"}};
  for (const Case& c : cases) {
    Verified v = verify_jwt(token(c.key, {{"alg", c.alg}, {"kid", c.kid}}, claims()), *k.set, {}, kNow);
    EXPECT_EQ(v.failure, Failure::none) << c.alg << ": " << describe(v.failure);
    EXPECT_EQ(v.claims["sub"], "alice") << c.alg;
    // Without kid, the keys that fit the alg are tried.
    EXPECT_EQ(check(token(c.key, {{"alg", c.alg}}, claims())), Failure::none) << c.alg;
  }
}

TEST(Jwt, WrongKeyOrAlteredTokenIsABadSignature) {
  const Keys& k = keys();
  EXPECT_EQ(check(token(k.other_rsa, {{"alg", "RS256"}, {"kid", "rsa"}}, claims())), Failure::bad_signature);
  EXPECT_EQ(check(token(k.other_rsa, {{"alg", "RS256"}}, claims())), Failure::bad_signature);
  std::string t = token(k.ed, {{"alg", "EdDSA"}}, claims());
  // Another payload under the same signature.
  const size_t d1 = t.find('.'), d2 = t.rfind('.');
  json forged = claims();
  forged["sub"] = "root";
  EXPECT_EQ(check(t.substr(0, d1 + 1) + base64url_encode(forged.dump()) + t.substr(d2)), Failure::bad_signature);
  // A flipped signature byte.
  std::string sig = *base64url_decode(t.substr(d2 + 1));
  sig[5] = static_cast<char>(sig[5] ^ 1);
  EXPECT_EQ(check(t.substr(0, d2 + 1) + base64url_encode(sig)), Failure::bad_signature);
  // ES256 signatures of the wrong length (a DER one, as some libraries send).
  std::string es = token(k.ec, {{"alg", "ES256"}}, claims());
  EXPECT_EQ(check(es + "AA"), Failure::bad_signature);   // 66 bytes
  EXPECT_EQ(check(es.substr(0, es.rfind('.') + 1) + base64url_encode(std::string(70, 'x'))), Failure::bad_signature);
}

TEST(Jwt, NoneAndHmacAreRefused) {
  const std::string payload = base64url_encode(claims().dump());
  EXPECT_EQ(check(base64url_encode(R"({"alg":"none"})") + "." + payload + "."), Failure::malformed);
  EXPECT_EQ(check(base64url_encode(R"({"alg":"none"})") + "." + payload + ".AAAA"), Failure::bad_alg);
  EXPECT_EQ(check(base64url_encode(R"({"alg":"None"})") + "." + payload + ".AAAA"), Failure::bad_alg);
  EXPECT_EQ(check(base64url_encode(R"({"typ":"JWT"})") + "." + payload + ".AAAA"), Failure::bad_alg);
  EXPECT_EQ(check(base64url_encode(R"({"alg":7})") + "." + payload + ".AAAA"), Failure::bad_alg);
  // Algorithm confusion: HS256 with the RSA public key's bytes as the secret.
  const std::string input = base64url_encode(R"({"alg":"HS256","kid":"rsa"})") + "." + payload;
  const std::string secret = keys().set->keys[0].kid;   // any bytes: the alg alone is refused
  unsigned char mac[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  EXPECT_EQ(check(input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len))), Failure::bad_alg);
}

TEST(Jwt, KeyTypeMustMatchTheAlgorithm) {
  const Keys& k = keys();
  // kid of an EC key, token claiming RS256 (signed with the RSA key).
  EXPECT_EQ(check(token(k.rsa, {{"alg", "RS256"}, {"kid", "ec"}}, claims())), Failure::no_key);
  // kid of the RSA key, EdDSA token.
  EXPECT_EQ(check(token(k.ed, {{"alg", "EdDSA"}, {"kid", "rsa"}}, claims())), Failure::no_key);
  // P-384 key named for ES256.
  EXPECT_EQ(check(token(k.ec384, {{"alg", "ES256"}, {"kid", "ec384"}}, claims())), Failure::no_key);
  // A set without any EdDSA key.
  JwksParse only_rsa = parse_jwks(jwks({public_jwk(k.rsa, "rsa")}));
  EXPECT_EQ(verify_jwt(token(k.ed, {{"alg", "EdDSA"}}, claims()), *only_rsa.keys, {}, kNow).failure, Failure::no_key);
  // A JWK pinned to RS256 does not verify RS512.
  JwksParse pinned = parse_jwks(jwks({public_jwk(k.rsa, "rsa", "RS256")}));
  EXPECT_EQ(verify_jwt(token(k.rsa, {{"alg", "RS512"}}, claims()), *pinned.keys, {}, kNow).failure, Failure::no_key);
  EXPECT_EQ(verify_jwt(token(k.rsa, {{"alg", "RS256"}}, claims()), *pinned.keys, {}, kNow).failure, Failure::none);
}

TEST(Jwt, UnknownKidAndCrit) {
  const Keys& k = keys();
  EXPECT_EQ(check(token(k.rsa, {{"alg", "RS256"}, {"kid", "nope"}}, claims())), Failure::unknown_kid);
  EXPECT_EQ(check(token(k.rsa, {{"alg", "RS256"}, {"kid", 5}}, claims())), Failure::malformed);
  EXPECT_EQ(check(token(k.rsa, {{"alg", "RS256"}, {"crit", {"exp"}}, {"exp", 1}}, claims())), Failure::crit);
  EXPECT_EQ(check(token(k.rsa, {{"alg", "RS256"}, {"b64", false}, {"crit", {"b64"}}}, claims())), Failure::crit);
  // Keys a token offers itself are never used.
  EXPECT_EQ(check(token(k.other_rsa, {{"alg", "RS256"}, {"jwk", public_jwk(k.other_rsa)}}, claims())),
            Failure::bad_signature);
}

TEST(Jwt, MalformedTokens) {
  const Keys& k = keys();
  std::string t = token(k.ed, {{"alg", "EdDSA"}}, claims());
  EXPECT_EQ(check(""), Failure::malformed);
  EXPECT_EQ(check("abc"), Failure::malformed);
  EXPECT_EQ(check("a.b"), Failure::malformed);
  EXPECT_EQ(check(t + ".x"), Failure::malformed);         // four parts (JWE has five)
  EXPECT_EQ(check(t.substr(0, t.rfind('.') + 1)), Failure::malformed);   // no signature
  EXPECT_EQ(check("e30." + t.substr(t.find('.') + 1)), Failure::bad_alg);   // header {}
  EXPECT_EQ(check(base64url_encode("[1]") + t.substr(t.find('.'))), Failure::malformed);
  EXPECT_EQ(check(std::string(kMaxTokenBytes + 1, 'a')), Failure::malformed);
  // A payload that is not a JSON object, validly signed.
  const std::string input = base64url_encode(R"({"alg":"EdDSA"})") + "." + base64url_encode("[1,2]");
  EXPECT_EQ(check(input + "." + base64url_encode(sign(k.ed, "EdDSA", input))), Failure::malformed);
}

TEST(Jwt, TimeClaimsWithSkew) {
  const PrivateKey& ed = keys().ed;
  auto with = [&](json c) { return check(token(ed, {{"alg", "EdDSA"}}, c)); };
  json c = claims();
  c.erase("exp");
  EXPECT_EQ(with(c), Failure::no_exp);
  c["exp"] = "tomorrow";
  EXPECT_EQ(with(c), Failure::no_exp);
  EXPECT_EQ(with(claims(kNow - 31)), Failure::expired);   // default skew 30 s
  EXPECT_EQ(with(claims(kNow - 30)), Failure::expired);   // valid only before exp + skew
  EXPECT_EQ(with(claims(kNow - 29)), Failure::none);
  EXPECT_EQ(with(claims(kNow - 29.5)), Failure::none);    // fractional NumericDate
  ClaimRules strict;
  strict.skew_s = 0;
  EXPECT_EQ(check(token(ed, {{"alg", "EdDSA"}}, claims(kNow - 1)), strict), Failure::expired);
  EXPECT_EQ(check(token(ed, {{"alg", "EdDSA"}}, claims(kNow + 1)), strict), Failure::none);
  c = claims();
  c["nbf"] = kNow + 31;
  EXPECT_EQ(with(c), Failure::not_yet_valid);
  c["nbf"] = kNow + 29;
  EXPECT_EQ(with(c), Failure::none);
  c["nbf"] = "soon";
  EXPECT_EQ(with(c), Failure::malformed);
  c = claims();
  c["iat"] = kNow + 3600;
  EXPECT_EQ(with(c), Failure::issued_in_future);
  c["iat"] = kNow - 3600;
  EXPECT_EQ(with(c), Failure::none);
}

TEST(Jwt, IssuerAndAudience) {
  const PrivateKey& ed = keys().ed;
  const std::vector<std::string> auds{"api", "other"};
  ClaimRules rules;
  rules.issuer = "https://idp";
  rules.audiences = auds;
  auto with = [&](json c) { return check(token(ed, {{"alg", "EdDSA"}}, c), rules); };
  EXPECT_EQ(with(claims()), Failure::none);
  json c = claims();
  c["iss"] = "https://evil";
  EXPECT_EQ(with(c), Failure::wrong_issuer);
  c.erase("iss");
  EXPECT_EQ(with(c), Failure::wrong_issuer);
  c = claims();
  c["aud"] = json::array({"x", "other"});
  EXPECT_EQ(with(c), Failure::none);
  c["aud"] = json::array({"x", "y"});
  EXPECT_EQ(with(c), Failure::wrong_audience);
  c["aud"] = json::array({1, "other"});   // an array of strings only (RFC 7519 4.1.3)
  EXPECT_EQ(with(c), Failure::wrong_audience);
  c["aud"] = "API";   // case-sensitive (RFC 7519 4.1.3: StringOrURI comparison)
  EXPECT_EQ(with(c), Failure::wrong_audience);
  c.erase("aud");
  EXPECT_EQ(with(c), Failure::wrong_audience);
  // Nothing configured: any iss and aud.
  c = claims();
  c["iss"] = "anyone";
  EXPECT_EQ(check(token(ed, {{"alg", "EdDSA"}}, c)), Failure::none);
}

// RFC 8037 A.4: the Ed25519 example signature.
TEST(Jwt, Rfc8037Ed25519Vector) {
  JwksParse p = parse_jwks(R"({"keys":[{"kty":"OKP","crv":"Ed25519",
      "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})");
  ASSERT_TRUE(p.keys) << p.error;
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const std::string sig = *base64url_decode(
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  EXPECT_TRUE(verify_signature(Alg::EdDSA, p.keys->keys[0], input, sig));
  EXPECT_FALSE(verify_signature(Alg::EdDSA, p.keys->keys[0], input + "x", sig));
}

// RFC 7515 A.3: the ES256 example (its exp, 2011, is long past).
TEST(Jwt, Rfc7515Es256Vector) {
  JwksParse p = parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-256",
      "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  ASSERT_TRUE(p.keys) << p.error;
  const std::string tok =
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb"
      "290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  EXPECT_EQ(verify_jwt(tok, *p.keys, {}, 1300819380 - 60).failure, Failure::none);
  EXPECT_EQ(verify_jwt(tok, *p.keys, {}, kNow).failure, Failure::expired);
}

}  // namespace
