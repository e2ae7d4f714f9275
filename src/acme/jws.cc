#include "acme/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "jose/base64url.h"

namespace gh::acme {

namespace {

using jose::base64url_encode;

bool is_p256(EVP_PKEY* key) {
  if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {};
  size_t len = 0;
  return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
         std::string_view(group, len) == "prime256v1";
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

}  // namespace

std::string jws_alg(EVP_PKEY* key) {
  if (is_p256(key)) return "ES256";
  if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) return "RS256";
  return {};
}

std::optional<nlohmann::json> public_jwk(EVP_PKEY* key) {
  if (is_p256(key)) {
    // The uncompressed point: 0x04 || x || y, 32 bytes each (RFC 7518 6.2.1.2:
    // x and y are the full coordinate size, leading zeros kept).
    unsigned char point[65];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point, &len) != 1 ||
        len != 65 || point[0] != 0x04) {
      ERR_clear_error();
      return std::nullopt;
    }
    const std::string_view p(reinterpret_cast<const char*>(point), len);
    return nlohmann::json{{"crv", "P-256"}, {"kty", "EC"}, {"x", base64url_encode(p.substr(1, 32))},
                          {"y", base64url_encode(p.substr(33, 32))}};
  }
  if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    const std::string n = bn_param(key, OSSL_PKEY_PARAM_RSA_N);
    const std::string e = bn_param(key, OSSL_PKEY_PARAM_RSA_E);
    if (n.empty() || e.empty()) {
      ERR_clear_error();
      return std::nullopt;
    }
    return nlohmann::json{{"e", base64url_encode(e)}, {"kty", "RSA"}, {"n", base64url_encode(n)}};
  }
  return std::nullopt;
}

std::string jwk_thumbprint(const nlohmann::json& jwk) {
  if (!jwk.is_object() || !jwk.contains("kty") || !jwk["kty"].is_string()) return {};
  const std::string kty = jwk["kty"].get<std::string>();
  std::vector<const char*> members;
  if (kty == "EC") members = {"crv", "kty", "x", "y"};
  else if (kty == "RSA") members = {"e", "kty", "n"};
  else if (kty == "OKP") members = {"crv", "kty", "x"};
  else return {};
  // nlohmann::json objects are std::map-ordered and dump() writes no
  // whitespace: exactly RFC 7638 3's canonical form (the member names are
  // ASCII, so byte order is code point order).
  nlohmann::json canon = nlohmann::json::object();
  for (const char* m : members) {
    if (!jwk.contains(m) || !jwk[m].is_string()) return {};
    canon[m] = jwk[m];
  }
  const std::string text = canon.dump();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::optional<std::string> sign_jws(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                                    const std::string& url, const std::optional<std::string>& payload,
                                    std::string& err) {
  const std::string alg = jws_alg(key);
  if (alg.empty()) {
    err = "the account key is neither EC P-256 (ES256) nor RSA (RS256)";
    return std::nullopt;
  }
  nlohmann::json header{{"alg", alg}, {"nonce", nonce}, {"url", url}};
  if (kid.empty()) {
    auto jwk = public_jwk(key);
    if (!jwk) {
      err = "the account key's public JWK cannot be built";
      return std::nullopt;
    }
    header["jwk"] = *jwk;
  } else {
    header["kid"] = kid;
  }
  const std::string protected_b64 = base64url_encode(header.dump());
  const std::string payload_b64 = payload ? base64url_encode(*payload) : std::string();
  const std::string signing_input = protected_b64 + "." + payload_b64;

  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  size_t sig_len = 0;
  bool ok = md && EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(md.get(), nullptr, &sig_len,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()) == 1;
  std::string sig(sig_len, '\0');
  ok = ok && EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                            reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size()) == 1;
  if (!ok) {
    err = "signing: " + tls::take_ossl_error("EVP_DigestSign failed");
    return std::nullopt;
  }
  sig.resize(sig_len);
  if (alg == "ES256") {
    // DER Ecdsa-Sig-Value -> r || s, each left-padded to 32 bytes (RFC 7518 3.4).
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    std::string raw(64, '\0');
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    if (es) ECDSA_SIG_get0(es.get(), &r, &s);
    if (!es || BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) != 32 ||
        BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) != 32) {
      err = "signing: " + tls::take_ossl_error("bad ECDSA signature");
      return std::nullopt;
    }
    sig = std::move(raw);
  }
  nlohmann::json jws{{"protected", protected_b64}, {"payload", payload_b64}, {"signature", base64url_encode(sig)}};
  return jws.dump();
}

}  // namespace gh::acme
