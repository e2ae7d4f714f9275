// Keys made in-test with OpenSSL, their JWKs, and tokens signed with them:
// what an identity provider would publish and issue.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "jose/base64url.h"

namespace gh::jose::test {

using nlohmann::json;

struct PrivateKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string kty;   // "RSA", "EC", "OKP"
  std::string crv;   // "P-256", "P-384", "Ed25519" or ""
};

inline PrivateKey rsa_key(unsigned bits = 2048) {
  return {std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{bits}), EVP_PKEY_free),
          "RSA", ""};
}
inline PrivateKey ec_key(const char* crv = "P-256") {
  return {std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", crv), EVP_PKEY_free), "EC", crv};
}
inline PrivateKey ed25519_key() {
  return {std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free), "OKP",
          "Ed25519"};
}

inline std::string bn_param(EVP_PKEY* p, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(p, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// The public JWK of `k`; `kid` and `alg` added when not empty.
inline json public_jwk(const PrivateKey& k, const std::string& kid = "", const std::string& alg = "") {
  json j{{"kty", k.kty}};
  if (k.kty == "RSA") {
    j["n"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N));
    j["e"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E));
  } else if (k.kty == "EC") {
    unsigned char buf[256];
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(k.pkey.get(), OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &n);
    const size_t half = (n - 1) / 2;   // 0x04 || x || y
    j["crv"] = k.crv;
    j["x"] = base64url_encode(std::string(reinterpret_cast<char*>(buf + 1), half));
    j["y"] = base64url_encode(std::string(reinterpret_cast<char*>(buf + 1 + half), half));
  } else {
    unsigned char buf[32];
    size_t n = sizeof buf;
    EVP_PKEY_get_raw_public_key(k.pkey.get(), buf, &n);
    j["crv"] = k.crv;
    j["x"] = base64url_encode(std::string(reinterpret_cast<char*>(buf), n));
  }
  if (!kid.empty()) j["kid"] = kid;
  if (!alg.empty()) j["alg"] = alg;
  return j;
}

inline std::string jwks(std::initializer_list<json> keys) {
  json list = json::array();
  for (const json& k : keys) list.push_back(k);
  json doc;
  doc["keys"] = std::move(list);
  return doc.dump();
}

// A JWS signature of `input` for `alg` ("RS256", "PS256", "ES256", "EdDSA" ...).
inline std::string sign(const PrivateKey& k, const std::string& alg, const std::string& input) {
  const EVP_MD* md = alg == "EdDSA" ? nullptr
                     : alg.ends_with("384") ? EVP_sha384()
                     : alg.ends_with("512") ? EVP_sha512()
                                            : EVP_sha256();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(ctx, &pctx, md, nullptr, k.pkey.get());
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t n = 0;
  EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(n, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(n);
  EVP_MD_CTX_free(ctx);
  if (alg.starts_with("ES")) {   // DER -> r||s (RFC 7518 3.4)
    const size_t half = alg == "ES256" ? 32 : 48;
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(2 * half, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(half));
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data() + half), static_cast<int>(half));
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return sig;
}

// A compact JWS of `payload` with `header`, signed by `k` with header["alg"].
inline std::string token(const PrivateKey& k, const json& header, const json& payload) {
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return input + "." + base64url_encode(sign(k, header["alg"].get<std::string>(), input));
}

}  // namespace gh::jose::test
