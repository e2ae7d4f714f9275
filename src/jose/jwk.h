// JSON Web Keys (RFC 7517) turned into OpenSSL public keys, and the
// signature algorithms (RFC 7518 3, RFC 8037 3.1) gatehouse verifies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace gh::jose {

// The JWS algorithms accepted. Never "none" and never the HMAC ones (HS*):
// a proxy holding public keys must not accept a MAC made with one of them
// used as a secret (algorithm confusion, RFC 8725 2.1, 3.1).
enum class Alg : uint8_t { RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA };

// "RS256" -> Alg::RS256; nullopt for anything else (case-sensitive, as
// RFC 7515 4.1.1 says).
std::optional<Alg> alg_from_name(std::string_view name);
const char* alg_name(Alg a);

// What a key can verify: each algorithm needs exactly one kind (RFC 8725
// 3.1: the key decides the algorithm family, not the token).
enum class KeyKind : uint8_t { rsa, ec_p256, ec_p384, ed25519 };
KeyKind kind_for(Alg a);

struct PkeyFree {
  void operator()(EVP_PKEY* p) const;
};

// One usable public key of a set.
struct Key {
  std::string kid;              // "" when the JWK has none
  KeyKind kind = KeyKind::rsa;
  std::optional<Alg> alg;       // the JWK's own "alg", when it names one
  std::shared_ptr<EVP_PKEY> pkey;   // public part only; shared: keys are immutable

  // Whether this key may verify a token signed with `a`: the kind matches
  // and the JWK's own alg, if any, is `a`.
  bool fits(Alg a) const { return kind == kind_for(a) && (!alg || *alg == a); }
};

// The keys of one JWK Set, immutable once built; shared by every worker.
struct KeySet {
  std::vector<Key> keys;
};

// Result of reading a JWK Set document.
struct JwksParse {
  std::shared_ptr<const KeySet> keys;   // set when usable keys were found
  std::string error;                    // otherwise why not ("keys[1]: RSA key without 'n'")
  std::vector<std::string> skipped;     // JWKs passed over on purpose, and why
};

// Reads a JWK Set ({"keys": [...]}, at most 1 MiB of JSON).
// Accepted: kty RSA (n, e; modulus 2048 to 16384 bits), EC with crv P-256
// or P-384 (x, y of the curve's size, a point on the curve), OKP with crv
// Ed25519 (x, 32 bytes). Private members ("d", "p" ...) are allowed and
// ignored: only the public part is loaded.
// Skipped, as RFC 7517 5 asks for keys one does not understand: other kty
// (oct, ...) or curves, "use" other than "sig", "key_ops" without "verify",
// an "alg" not in Alg.
// An error: not JSON, no "keys" list, a key of an accepted type that is
// malformed (bad base64url, wrong length, off the curve, too small), or no
// usable key at all.
JwksParse parse_jwks(std::string_view json);

}  // namespace gh::jose
