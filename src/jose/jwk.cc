#include "jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

#include "jose/base64url.h"

namespace gh::jose {

void PkeyFree::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

namespace {

using nlohmann::json;

constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr size_t kMaxKeys = 100;   // an IdP publishes a handful; more is a mistake or an attack

struct Alg_name {
  Alg alg;
  std::string_view name;
};
constexpr Alg_name kAlgs[] = {{Alg::RS256, "RS256"}, {Alg::RS384, "RS384"}, {Alg::RS512, "RS512"},
                              {Alg::PS256, "PS256"}, {Alg::PS384, "PS384"}, {Alg::PS512, "PS512"},
                              {Alg::ES256, "ES256"}, {Alg::ES384, "ES384"}, {Alg::EdDSA, "EdDSA"}};

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

std::shared_ptr<EVP_PKEY> adopt(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, PkeyFree{}); }

// EVP_PKEY_fromdata for a public key of `type` ("RSA", "EC") from `params`.
EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

// A base64url member of a JWK; sets `err` when absent or malformed.
std::optional<std::string> member(const json& jwk, const char* name, std::string& err) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    err = std::string("no '") + name + "' string";
    return std::nullopt;
  }
  auto bytes = base64url_decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) {
    err = std::string("'") + name + "' is not base64url";
    return std::nullopt;
  }
  return bytes;
}

std::shared_ptr<EVP_PKEY> rsa_key(const json& jwk, std::string& err) {
  auto n = member(jwk, "n", err);
  if (!n) return nullptr;
  auto e = member(jwk, "e", err);
  if (!e) return nullptr;
  Bn bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
  Bn bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) {
    err = "out of memory";
    return nullptr;
  }
  // RFC 7518 3.3: 2048 bits or more. The upper bound keeps a hostile key
  // set from making every verification slow.
  const int bits = BN_num_bits(bn_n.get());
  if (bits < 2048 || bits > 16384) {
    err = "RSA modulus of " + std::to_string(bits) + " bits (2048 to 16384 accepted, RFC 7518 3.3)";
    return nullptr;
  }
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2 || BN_num_bits(bn_e.get()) > 64) {
    err = "RSA exponent 'e' is not an odd number from 3 to 2^64";
    return nullptr;
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY* p = nullptr;
  if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1)
    p = from_params("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  if (!p) err = "OpenSSL refused the RSA key";
  return p ? adopt(p) : nullptr;
}

std::shared_ptr<EVP_PKEY> ec_key(const json& jwk, const char* group, size_t size, std::string& err) {
  auto x = member(jwk, "x", err);
  if (!x) return nullptr;
  auto y = member(jwk, "y", err);
  if (!y) return nullptr;
  // RFC 7518 6.2.1.2: x and y are exactly the curve's size, leading zeros kept.
  if (x->size() != size || y->size() != size) {
    err = "'x' and 'y' must be " + std::to_string(size) + " bytes each";
    return nullptr;
  }
  std::string point = "\x04" + *x + *y;   // SEC 1 uncompressed point
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY* p = nullptr;
  if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1)
    p = from_params("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  if (!p) {
    err = "not a point on the curve";
    return nullptr;
  }
  auto key = adopt(p);
  // An off-curve point is the invalid-curve attack's way in: check it.
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, p, nullptr);
  const bool ok = ctx && EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) {
    err = "not a point on the curve";
    return nullptr;
  }
  return key;
}

std::shared_ptr<EVP_PKEY> ed25519_key(const json& jwk, std::string& err) {
  auto x = member(jwk, "x", err);
  if (!x) return nullptr;
  if (x->size() != 32) {
    err = "Ed25519 'x' must be 32 bytes (RFC 8037 2)";
    return nullptr;
  }
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (!p) err = "OpenSSL refused the Ed25519 key";
  return p ? adopt(p) : nullptr;
}

std::string str_member(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<Alg> alg_from_name(std::string_view name) {
  for (const auto& a : kAlgs)
    if (a.name == name) return a.alg;
  return std::nullopt;
}

const char* alg_name(Alg a) {
  for (const auto& x : kAlgs)
    if (x.alg == a) return x.name.data();
  return "?";
}

KeyKind kind_for(Alg a) {
  switch (a) {
    case Alg::ES256: return KeyKind::ec_p256;
    case Alg::ES384: return KeyKind::ec_p384;
    case Alg::EdDSA: return KeyKind::ed25519;
    default: return KeyKind::rsa;
  }
}

JwksParse parse_jwks(std::string_view text) {
  JwksParse out;
  if (text.size() > kMaxJwksBytes) {
    out.error = "larger than 1 MiB";
    return out;
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    out.error = std::string("not JSON: ") + e.what();
    return out;
  }
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    out.error = "not a JWK Set: no \"keys\" list (RFC 7517 5)";
    return out;
  }
  const json& list = doc["keys"];
  if (list.size() > kMaxKeys) {
    out.error = "more than " + std::to_string(kMaxKeys) + " keys";
    return out;
  }
  auto set = std::make_shared<KeySet>();
  for (size_t i = 0; i < list.size(); ++i) {
    const json& jwk = list[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (!jwk.is_object()) {
      out.error = where + ": not an object";
      return out;
    }
    Key key;
    key.kid = str_member(jwk, "kid");
    const std::string who = where + (key.kid.empty() ? "" : " (kid '" + key.kid + "')");
    const std::string kty = str_member(jwk, "kty");
    const std::string crv = str_member(jwk, "crv");
    if (jwk.contains("use") && str_member(jwk, "use") != "sig") {
      out.skipped.push_back(who + ": 'use' is not 'sig'");
      continue;
    }
    if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
      bool verify = false;
      if (ops->is_array())
        for (const json& op : *ops) verify = verify || (op.is_string() && op.get_ref<const std::string&>() == "verify");
      if (!verify) {
        out.skipped.push_back(who + ": 'key_ops' has no 'verify'");
        continue;
      }
    }
    if (jwk.contains("alg")) {
      key.alg = alg_from_name(str_member(jwk, "alg"));
      if (!key.alg) {
        out.skipped.push_back(who + ": 'alg' " + jwk["alg"].dump() + " is not one gatehouse verifies");
        continue;
      }
    }
    std::string err;
    if (kty == "RSA") {
      key.kind = KeyKind::rsa;
      key.pkey = rsa_key(jwk, err);
    } else if (kty == "EC" && crv == "P-256") {
      key.kind = KeyKind::ec_p256;
      key.pkey = ec_key(jwk, "P-256", 32, err);
    } else if (kty == "EC" && crv == "P-384") {
      key.kind = KeyKind::ec_p384;
      key.pkey = ec_key(jwk, "P-384", 48, err);
    } else if (kty == "OKP" && crv == "Ed25519") {
      key.kind = KeyKind::ed25519;
      key.pkey = ed25519_key(jwk, err);
    } else {
      out.skipped.push_back(who + ": kty '" + kty + "'" + (crv.empty() ? "" : " crv '" + crv + "'") +
                            " is not verified by gatehouse");
      continue;
    }
    if (!key.pkey) {
      out.error = who + ": " + err;
      return out;
    }
    if (key.alg && !key.fits(*key.alg)) {
      out.error = who + ": 'alg' " + alg_name(*key.alg) + " does not fit a key of kty '" + kty + "'";
      return out;
    }
    set->keys.push_back(std::move(key));
  }
  if (set->keys.empty()) {
    out.error = "no usable signing key (RSA, EC P-256/P-384 or OKP Ed25519)";
    if (!out.skipped.empty()) out.error += "; " + out.skipped.front();
    return out;
  }
  out.keys = std::move(set);
  return out;
}

}  // namespace gh::jose
