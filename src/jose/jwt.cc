#include "jose/jwt.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "jose/base64url.h"

namespace gh::jose {
namespace {

using nlohmann::json;

const EVP_MD* digest_for(Alg a) {
  switch (a) {
    case Alg::RS256: case Alg::PS256: case Alg::ES256: return EVP_sha256();
    case Alg::RS384: case Alg::PS384: case Alg::ES384: return EVP_sha384();
    case Alg::RS512: case Alg::PS512: return EVP_sha512();
    case Alg::EdDSA: return nullptr;   // Ed25519 hashes internally (RFC 8032)
  }
  return nullptr;
}

bool is_pss(Alg a) { return a == Alg::PS256 || a == Alg::PS384 || a == Alg::PS512; }

// RFC 7518 3.4: r||s, each the curve's size, into the DER ECDSA-Sig-Value
// OpenSSL verifies. Empty on a wrong length.
std::string ecdsa_der(std::string_view raw, size_t half) {
  if (raw.size() != 2 * half) return {};
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(p + half, static_cast<int>(half), nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  std::string der;
  if (r && s && sig && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = nullptr;   // owned by sig now
    unsigned char* buf = nullptr;
    int n = i2d_ECDSA_SIG(sig, &buf);
    if (n > 0) der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
    OPENSSL_free(buf);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return der;
}

// A JSON object from one base64url part; discarded json on failure.
json decode_object(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return json(json::value_t::discarded);
  json j = json::parse(*bytes, nullptr, false);
  if (!j.is_object()) return json(json::value_t::discarded);
  return j;
}

// A NumericDate (RFC 7519 2): a JSON number.
bool numeric(const json& claims, const char* name, double& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return false;
  out = it->get<double>();
  return true;
}

Failure check_claims(const json& c, const ClaimRules& rules, double now, double& exp) {
  if (!numeric(c, "exp", exp)) return Failure::no_exp;
  const double skew = static_cast<double>(rules.skew_s);
  // RFC 7519 4.1.4: valid only before exp.
  if (now >= exp + skew) return Failure::expired;
  if (c.contains("nbf")) {
    double nbf;
    if (!numeric(c, "nbf", nbf)) return Failure::malformed;
    if (now + skew < nbf) return Failure::not_yet_valid;
  }
  if (c.contains("iat")) {
    double iat;
    if (!numeric(c, "iat", iat)) return Failure::malformed;
    if (iat > now + skew) return Failure::issued_in_future;
  }
  if (!rules.issuer.empty()) {
    auto it = c.find("iss");
    if (it == c.end() || !it->is_string() || it->get_ref<const std::string&>() != rules.issuer)
      return Failure::wrong_issuer;
  }
  if (!rules.audiences.empty()) {
    // RFC 7519 4.1.3: a string or an array of strings; one must be ours.
    auto ours = [&](const json& a) {
      return a.is_string() && std::find(rules.audiences.begin(), rules.audiences.end(),
                                        a.get_ref<const std::string&>()) != rules.audiences.end();
    };
    auto it = c.find("aud");
    bool ok = false;
    if (it != c.end() && it->is_array())
      ok = std::all_of(it->begin(), it->end(), [](const json& a) { return a.is_string(); }) &&
           std::any_of(it->begin(), it->end(), ours);
    else if (it != c.end()) ok = ours(*it);
    if (!ok) return Failure::wrong_audience;
  }
  return Failure::none;
}

}  // namespace

const char* describe(Failure f) {
  switch (f) {
    case Failure::none: return "valid";
    case Failure::malformed: return "malformed token";
    case Failure::bad_alg: return "algorithm not accepted";
    case Failure::crit: return "unsupported critical header";
    case Failure::unknown_kid: return "unknown key id";
    case Failure::no_key: return "no key for this algorithm";
    case Failure::bad_signature: return "bad signature";
    case Failure::no_exp: return "no expiry";
    case Failure::expired: return "expired";
    case Failure::not_yet_valid: return "not yet valid";
    case Failure::issued_in_future: return "issued in the future";
    case Failure::wrong_issuer: return "wrong issuer";
    case Failure::wrong_audience: return "wrong audience";
  }
  return "invalid";
}

bool verify_signature(Alg alg, const Key& key, std::string_view input, std::string_view sig) {
  if (!key.fits(alg) || !key.pkey) return false;
  std::string der;
  if (alg == Alg::ES256 || alg == Alg::ES384) {
    der = ecdsa_der(sig, alg == Alg::ES256 ? 32 : 48);
    if (der.empty()) return false;
    sig = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, digest_for(alg), nullptr, key.pkey.get()) == 1;
  if (ok && is_pss(alg)) {
    // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest_for(alg)) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Verified verify_jwt(std::string_view token, const KeySet& keys, const ClaimRules& rules, double now_s) {
  Verified out;
  out.failure = Failure::malformed;
  if (token.empty() || token.size() > kMaxTokenBytes) return out;
  // RFC 7515 7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return out;
  const size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return out;
  const std::string_view input = token.substr(0, d2);
  json header = decode_object(token.substr(0, d1));
  if (header.is_discarded()) return out;
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!sig || sig->empty()) return out;

  auto alg_it = header.find("alg");
  std::optional<Alg> alg;
  if (alg_it != header.end() && alg_it->is_string()) alg = alg_from_name(alg_it->get_ref<const std::string&>());
  if (!alg) {
    out.failure = Failure::bad_alg;
    return out;
  }
  if (header.contains("crit")) {
    out.failure = Failure::crit;
    return out;
  }
  const json* kid = nullptr;
  if (auto it = header.find("kid"); it != header.end()) {
    if (!it->is_string()) return out;   // malformed
    kid = &*it;
  }
  bool kid_known = false, tried = false, verified = false;
  for (const Key& k : keys.keys) {
    if (kid && k.kid != kid->get_ref<const std::string&>()) continue;
    kid_known = true;
    if (!k.fits(*alg)) continue;
    tried = true;
    if (verify_signature(*alg, k, input, *sig)) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    out.failure = kid && !kid_known ? Failure::unknown_kid
                  : !tried          ? Failure::no_key
                                    : Failure::bad_signature;
    return out;
  }
  // Only a verified payload is read.
  json claims = decode_object(token.substr(d1 + 1, d2 - d1 - 1));
  if (claims.is_discarded()) return out;
  out.failure = check_claims(claims, rules, now_s, out.exp);
  if (out.failure == Failure::none) out.claims = std::move(claims);
  return out;
}

}  // namespace gh::jose
