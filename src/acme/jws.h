// The JWS side of ACME (RFC 8555 6.2): the account key as a JWK (RFC 7517),
// its thumbprint (RFC 7638) and requests signed in the flattened JSON
// serialization (RFC 7515 7.2.2). ES256 for EC P-256 keys (RFC 7518 3.4:
// the signature is r || s, 32 bytes each, not OpenSSL's DER) and RS256 for
// RSA keys. Internal to src/acme; declared here for the tests.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "acme/keys.h"

namespace gh::acme {

// The public JWK of `key`: {"crv":"P-256","kty":"EC","x":..,"y":..} or
// {"e":..,"kty":"RSA","n":..}. nullopt for other key types or curves.
std::optional<nlohmann::json> public_jwk(EVP_PKEY* key);

// The JWS "alg" that `key` signs with ("ES256", "RS256"), "" when none.
std::string jws_alg(EVP_PKEY* key);

// RFC 7638 thumbprint (SHA-256, base64url) of a JWK: only the required
// members (EC: crv, kty, x, y; RSA: e, kty, n; OKP: crv, kty, x), in
// lexicographic order, no whitespace. "" when a required member is missing
// or not a string.
std::string jwk_thumbprint(const nlohmann::json& jwk);

// A signed request body (flattened JSON JWS). The protected header holds
// alg, nonce, url and either jwk (kid empty: newAccount, RFC 8555 6.2) or
// kid. `payload` nullopt: POST-as-GET (empty payload, RFC 8555 6.3).
// nullopt + err when the key cannot sign.
std::optional<std::string> sign_jws(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                                    const std::string& url, const std::optional<std::string>& payload,
                                    std::string& err);

}  // namespace gh::acme
