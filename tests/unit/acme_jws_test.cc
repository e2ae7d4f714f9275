// ACME's JWS (RFC 8555 6.2, RFC 7515 flattened JSON): signatures verified
// with OpenSSL over the exact signing input, the protected header's members,
// and the JWK thumbprint (RFC 7638).
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "acme/jws.h"
#include "jose/base64url.h"

using namespace gh::acme;
using gh::jose::base64url_decode;
using nlohmann::json;

namespace {

// Verifies a flattened JWS made with `key`: ES256 r||s back to DER for
// OpenSSL, RS256 as it is.
bool verifies(EVP_PKEY* key, const json& jws) {
  const std::string input = jws["protected"].get<std::string>() + "." + jws["payload"].get<std::string>();
  auto sig = base64url_decode(jws["signature"].get<std::string>());
  if (!sig) return false;
  std::string der = *sig;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    if (sig->size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    const auto* p = reinterpret_cast<const unsigned char*>(sig->data());
    ECDSA_SIG_set0(es, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(es, &out);
    der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

json header_of(const json& jws) {
  return json::parse(*base64url_decode(jws["protected"].get<std::string>()));
}

TEST(AcmeJws, Es256SignatureVerifiesOverTheSigningInput) {
  PkeyPtr key = generate_ec_key();
  ASSERT_TRUE(key);
  std::string err;
  // Many signatures: r or s with a leading zero byte (about 1 in 128) must
  // still come out as 32 bytes each.
  for (int i = 0; i < 64; ++i) {
    auto body = sign_jws(key.get(), "https://ca/acct/1", "nonce" + std::to_string(i), "https://ca/order",
                         std::string(R"({"identifiers":[]})"), err);
    ASSERT_TRUE(body) << err;
    const json jws = json::parse(*body);
    ASSERT_TRUE(verifies(key.get(), jws)) << *body;
    EXPECT_EQ(base64url_decode(jws["signature"].get<std::string>())->size(), 64u);
  }
}

TEST(AcmeJws, TamperedPayloadFailsVerification) {
  PkeyPtr key = generate_ec_key();
  std::string err;
  auto body = sign_jws(key.get(), "k", "n", "u", std::string("{}"), err);
  ASSERT_TRUE(body) << err;
  json jws = json::parse(*body);
  jws["payload"] = gh::jose::base64url_encode("{ }");
  EXPECT_FALSE(verifies(key.get(), jws));
}

TEST(AcmeJws, NewAccountCarriesTheJwkLaterRequestsTheKid) {
  PkeyPtr key = generate_ec_key();
  std::string err;
  auto with_jwk = sign_jws(key.get(), "", "n1", "https://ca/new-acct", std::string("{}"), err);
  ASSERT_TRUE(with_jwk) << err;
  json h = header_of(json::parse(*with_jwk));
  EXPECT_EQ(h["alg"], "ES256");
  EXPECT_EQ(h["nonce"], "n1");
  EXPECT_EQ(h["url"], "https://ca/new-acct");
  EXPECT_FALSE(h.contains("kid"));
  ASSERT_TRUE(h.contains("jwk"));
  EXPECT_EQ(h["jwk"], *public_jwk(key.get()));
  EXPECT_FALSE(h["jwk"].contains("d"));   // never the private part

  auto with_kid = sign_jws(key.get(), "https://ca/acct/7", "n2", "https://ca/order/1", std::nullopt, err);
  ASSERT_TRUE(with_kid) << err;
  const json jws = json::parse(*with_kid);
  h = header_of(jws);
  EXPECT_EQ(h["kid"], "https://ca/acct/7");
  EXPECT_FALSE(h.contains("jwk"));
  // POST-as-GET: the payload is the empty string (RFC 8555 6.3), not "{}".
  EXPECT_EQ(jws["payload"], "");
  EXPECT_TRUE(verifies(key.get(), jws));
}

TEST(AcmeJws, Rs256ForRsaKeys) {
  PkeyPtr key(EVP_RSA_gen(2048));
  ASSERT_TRUE(key);
  EXPECT_EQ(jws_alg(key.get()), "RS256");
  std::string err;
  auto body = sign_jws(key.get(), "", "n", "u", std::string("{}"), err);
  ASSERT_TRUE(body) << err;
  EXPECT_TRUE(verifies(key.get(), json::parse(*body)));
  EXPECT_EQ(header_of(json::parse(*body))["jwk"]["kty"], "RSA");
}

TEST(AcmeJws, OtherKeysAreRefused) {
  PkeyPtr p384(EVP_EC_gen("P-384"));
  std::string err;
  EXPECT_EQ(jws_alg(p384.get()), "");
  EXPECT_FALSE(sign_jws(p384.get(), "", "n", "u", std::string("{}"), err));
  EXPECT_NE(err.find("P-256"), std::string::npos) << err;
}

TEST(AcmeJws, EcJwkHasFullSizeCoordinates) {
  PkeyPtr key = generate_ec_key();
  auto jwk = public_jwk(key.get());
  ASSERT_TRUE(jwk);
  EXPECT_EQ((*jwk)["kty"], "EC");
  EXPECT_EQ((*jwk)["crv"], "P-256");
  EXPECT_EQ(base64url_decode((*jwk)["x"].get<std::string>())->size(), 32u);
  EXPECT_EQ(base64url_decode((*jwk)["y"].get<std::string>())->size(), 32u);
}

// RFC 7638 3.1: the example RSA key and its thumbprint; extra members
// (alg, kid) do not take part.
TEST(AcmeJws, ThumbprintOfRfc7638Example) {
  const json jwk = {
      {"kty", "RSA"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4"
       "n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0"
       "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
       "csFCur-kEgU8awapJzKnqDKgw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  EXPECT_EQ(jwk_thumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(AcmeJws, ThumbprintOfAnEcKeyHashesItsCanonicalJson) {
  const json jwk = {{"y", "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
                    {"x", "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"},
                    {"kty", "EC"},
                    {"use", "sig"},
                    {"crv", "P-256"}};
  const std::string canon =
      R"({"crv":"P-256","kty":"EC","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"})";
  unsigned char d[32];
  EVP_Digest(canon.data(), canon.size(), d, nullptr, EVP_sha256(), nullptr);
  EXPECT_EQ(jwk_thumbprint(jwk), gh::jose::base64url_encode(std::string_view(reinterpret_cast<char*>(d), 32)));
}

TEST(AcmeJws, ThumbprintRefusesIncompleteKeys) {
  EXPECT_EQ(jwk_thumbprint(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}}), "");
  EXPECT_EQ(jwk_thumbprint(json{{"kty", "oct"}, {"k", "AA"}}), "");
  EXPECT_EQ(jwk_thumbprint(json::array()), "");
  EXPECT_EQ(jwk_thumbprint(json{{"kty", "RSA"}, {"n", 5}, {"e", "AQAB"}}), "");
}

}  // namespace
