// Verifying a JWT in JWS compact serialization (RFC 7519, RFC 7515 7.1)
// against a JWK Set, with the checks of RFC 8725 (JWT best practices).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "jose/jwk.h"

namespace gh::jose {

// Tokens longer than this (bytes) are refused unread.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

// What a token is checked against besides its signature.
struct ClaimRules {
  std::string_view issuer;                 // "" = any; else "iss" must equal it
  std::span<const std::string> audiences;  // empty = any; else "aud" must name one
  int64_t skew_s = 30;                     // leeway for exp, nbf and iat (seconds)
};

enum class Failure : uint8_t {
  none,
  malformed,        // not three base64url parts of JSON objects, or too large
  bad_alg,          // alg missing, "none", HS*, or unknown
  crit,             // a "crit" header: no extension is understood (RFC 7515 4.1.11)
  unknown_kid,      // a kid no key of the set has
  no_key,           // no key of the set fits the alg (without kid, or kid of another type)
  bad_signature,
  no_exp,           // "exp" missing or not a number (required here, RFC 8725 3.10)
  expired,
  not_yet_valid,    // nbf in the future
  issued_in_future, // iat in the future
  wrong_issuer,
  wrong_audience,
};

// A short phrase for Proxy-Status details and RFC 6750 error_description
// (printable ASCII without '"' or '\').
const char* describe(Failure f);

struct Verified {
  Failure failure = Failure::none;
  nlohmann::json claims;   // the payload, when failure is none
  double exp = 0;          // its "exp" (seconds since the epoch)
};

// Splits, decodes and verifies `token` and checks its claims at `now_s`
// (seconds since the epoch). Header rules: "alg" must be in Alg; "crit"
// refused; "kid", when present, picks the keys with that kid, else every key
// that fits the alg is tried; a key is only used for an alg it fits
// (KeyKind, and the JWK's own "alg"). "jku", "jwk", "x5u", "x5c" are
// ignored: keys come only from the configured set. Claims: "exp" required;
// "nbf" and "iat" checked when present; numbers may be fractional.
Verified verify_jwt(std::string_view token, const KeySet& keys, const ClaimRules& rules, double now_s);

// Verifies one JWS signature over `signing_input` with `key` for `alg`
// (ES*: the raw r||s of RFC 7518 3.4). For tests and for verify_jwt.
bool verify_signature(Alg alg, const Key& key, std::string_view signing_input, std::string_view sig);

}  // namespace gh::jose
