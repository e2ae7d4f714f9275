// Small helpers for the demo origin: strings, JSON, URLs, hashes.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

bool iequals(std::string_view a, std::string_view b);
std::string lower(std::string_view s);
std::string_view trim(std::string_view s);

// True when the comma-separated list `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token);

// Decimal digits only, no sign, no overflow.
std::optional<uint64_t> parse_u64(std::string_view s);

// Appends `s` as a quoted JSON string. Valid UTF-8 passes through; stray bytes
// become \u00XX so the output is always valid JSON whatever the client sent.
void json_quote(std::string& out, std::string_view s);

// Percent-decoding of a query value ('+' is a space there).
std::string url_decode(std::string_view s);
// Every value of `key` in a query string, decoded, in order.
std::vector<std::string> query_values(std::string_view query, std::string_view key);

const char* reason_phrase(int status);

std::string base64(const unsigned char* data, size_t n);
// Sec-WebSocket-Accept for a client key (RFC 6455 section 4.2.2).
std::string websocket_accept(std::string_view key);
// A key is the base64 form of 16 bytes: 22 alphabet chars then "==".
bool valid_websocket_key(std::string_view key);

// Incremental SHA-256 over a body that is never stored.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const char* p, size_t n);
  std::string hex();  // finishes the digest

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace demo
