// base64url without padding (RFC 7515 2, RFC 4648 5), as JOSE uses it for
// every part of a compact token and every key member of a JWK.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::jose {

// Decodes strictly: only A-Z a-z 0-9 '-' '_', no '=' padding, no whitespace,
// a length that is not 1 mod 4, and unused low bits of the last character
// zero (so each byte string has exactly one encoding: a token cannot be
// altered without changing what is verified). nullopt on anything else.
std::optional<std::string> base64url_decode(std::string_view in);

// Encodes without padding (for tests and messages).
std::string base64url_encode(std::string_view in);

}  // namespace gh::jose
