// libFuzzer target: the JOSE code that reads untrusted bytes (src/jose):
// bearer tokens from any client, and JWK Sets from a jwks_url (the IdP, or
// whoever sits on a plain-http path to it).
//
// Input layout: byte 0 even = the rest is a token, odd = a JWK Set document.
//
// Checks (beyond no crash, no UB, no leak):
//  - base64url is canonical: whatever decodes re-encodes to the same text;
//  - a token is never accepted: the fixed key set's private keys are not
//    known, and the one valid signature (RFC 7515 A.3) is for an expired token;
//  - a parsed JWK Set's keys all have an OpenSSL key and fit their own alg.
#include <cstdint>
#include <string>
#include <string_view>

#include "jose/base64url.h"
#include "jose/jwt.h"

#include "fuzz_check.h"

using namespace gh::jose;

namespace {

const KeySet& fixed_keys() {
  static const std::shared_ptr<const KeySet> keys = parse_jwks(R"({"keys":[
    {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})").keys;
  return *keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    if (auto bytes = base64url_decode(in)) FUZZ_CHECK(base64url_encode(*bytes) == in);
    const std::string audiences[] = {"api"};
    ClaimRules rules;
    rules.audiences = audiences;
    // now: after the RFC 7515 A.3 token expired.
    Verified v = verify_jwt(in, fixed_keys(), {}, 1'700'000'000);
    FUZZ_CHECK(v.failure != Failure::none);
    v = verify_jwt(in, fixed_keys(), rules, 1'300'819'000);
    FUZZ_CHECK(v.failure != Failure::none || v.claims.is_object());
  } else {
    JwksParse p = parse_jwks(in);
    FUZZ_CHECK(static_cast<bool>(p.keys) == p.error.empty());
    if (p.keys) {
      for (const Key& k : p.keys->keys) {
        FUZZ_CHECK(k.pkey != nullptr);
        FUZZ_CHECK(!k.alg || k.fits(*k.alg));
      }
    }
  }
  return 0;
}
