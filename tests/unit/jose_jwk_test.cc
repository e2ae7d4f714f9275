// JWK Sets into keys: what is loaded, skipped (RFC 7517 5) or refused.
#include <gtest/gtest.h>

#include "jose/jwk.h"
#include "jose_test_keys.h"

using namespace gh::jose;
using namespace gh::jose::test;

namespace {

const PrivateKey& rsa() {
  static PrivateKey k = rsa_key();
  return k;
}

TEST(Jwks, LoadsEachKeyType) {
  JwksParse p = parse_jwks(jwks({public_jwk(rsa(), "r"), public_jwk(ec_key(), "e", "ES256"),
                                 public_jwk(ec_key("P-384"), "e384"), public_jwk(ed25519_key(), "o")}));
  ASSERT_TRUE(p.keys) << p.error;
  ASSERT_EQ(p.keys->keys.size(), 4u);
  EXPECT_EQ(p.keys->keys[0].kind, KeyKind::rsa);
  EXPECT_EQ(p.keys->keys[0].kid, "r");
  EXPECT_FALSE(p.keys->keys[0].alg);
  EXPECT_EQ(p.keys->keys[1].kind, KeyKind::ec_p256);
  EXPECT_EQ(*p.keys->keys[1].alg, Alg::ES256);
  EXPECT_EQ(p.keys->keys[2].kind, KeyKind::ec_p384);
  EXPECT_EQ(p.keys->keys[3].kind, KeyKind::ed25519);
}

TEST(Jwks, KeyFitsOnlyItsAlgorithms) {
  JwksParse p = parse_jwks(jwks({public_jwk(rsa(), "r"), public_jwk(rsa(), "r2", "RS256"),
                                 public_jwk(ec_key(), "e"), public_jwk(ed25519_key(), "o")}));
  ASSERT_TRUE(p.keys) << p.error;
  const auto& k = p.keys->keys;
  EXPECT_TRUE(k[0].fits(Alg::RS256) && k[0].fits(Alg::PS512));
  EXPECT_FALSE(k[0].fits(Alg::ES256) || k[0].fits(Alg::EdDSA));
  EXPECT_TRUE(k[1].fits(Alg::RS256));
  EXPECT_FALSE(k[1].fits(Alg::RS512));   // its own alg pins it
  EXPECT_TRUE(k[2].fits(Alg::ES256));
  EXPECT_FALSE(k[2].fits(Alg::ES384) || k[2].fits(Alg::RS256));
  EXPECT_TRUE(k[3].fits(Alg::EdDSA));
  EXPECT_FALSE(k[3].fits(Alg::ES256));
}

TEST(Jwks, PrivateMembersAreIgnored) {
  json j = public_jwk(ed25519_key(), "o");
  j["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
  JwksParse p = parse_jwks(jwks({j}));
  ASSERT_TRUE(p.keys) << p.error;
  EXPECT_EQ(p.keys->keys.size(), 1u);
}

TEST(Jwks, SkipsKeysItDoesNotUse) {
  json enc = public_jwk(rsa(), "enc");
  enc["use"] = "enc";
  json ops = public_jwk(rsa(), "ops");
  ops["key_ops"] = json::array({"encrypt"});
  json oct{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  json x25519{{"kty", "OKP"}, {"crv", "X25519"}, {"x", "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"}};
  json hs = public_jwk(rsa(), "hs", "HS256");
  JwksParse p = parse_jwks(jwks({enc, ops, oct, x25519, hs, public_jwk(ed25519_key(), "ok")}));
  ASSERT_TRUE(p.keys) << p.error;
  ASSERT_EQ(p.keys->keys.size(), 1u);
  EXPECT_EQ(p.keys->keys[0].kid, "ok");
  EXPECT_EQ(p.skipped.size(), 5u);
}

TEST(Jwks, RefusesMalformedDocuments) {
  EXPECT_NE(parse_jwks("").error, "");
  EXPECT_NE(parse_jwks("{\"keys\": [").error.find("not JSON"), std::string::npos);
  EXPECT_NE(parse_jwks("[]").error.find("no \"keys\""), std::string::npos);
  EXPECT_NE(parse_jwks("{\"keys\": {}}").error.find("no \"keys\""), std::string::npos);
  EXPECT_NE(parse_jwks("{\"keys\": []}").error.find("no usable"), std::string::npos);
  EXPECT_NE(parse_jwks("{\"keys\": [1]}").error.find("not an object"), std::string::npos);
  EXPECT_FALSE(parse_jwks(std::string(2 << 20, ' ')).keys);
}

TEST(Jwks, RefusesBrokenKeysOfKnownTypes) {
  json no_n = public_jwk(rsa(), "a");
  no_n.erase("n");
  EXPECT_NE(parse_jwks(jwks({no_n})).error.find("no 'n'"), std::string::npos);
  json bad_b64 = public_jwk(rsa(), "a");
  bad_b64["e"] = "AQAB==";
  EXPECT_NE(parse_jwks(jwks({bad_b64})).error.find("'e' is not base64url"), std::string::npos);
  EXPECT_NE(parse_jwks(jwks({public_jwk(rsa_key(1024), "small")})).error.find("1024 bits"), std::string::npos);
  json short_x = public_jwk(ed25519_key());
  short_x["x"] = "AAAA";
  EXPECT_NE(parse_jwks(jwks({short_x})).error.find("32 bytes"), std::string::npos);
  // A P-256 point moved off the curve: y + 1.
  json off = public_jwk(ec_key());
  std::string y = *base64url_decode(off["y"].get<std::string>());
  y.back() = static_cast<char>(y.back() ^ 1);
  off["y"] = base64url_encode(y);
  EXPECT_NE(parse_jwks(jwks({off})).error.find("not a point on the curve"), std::string::npos);
  // A JWK whose own alg names another family.
  EXPECT_NE(parse_jwks(jwks({public_jwk(ec_key(), "e", "RS256")})).error.find("does not fit"),
            std::string::npos);
}

}  // namespace
