#include "proxy/websocket_accept.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace gh::proxy {

std::string websocket_accept(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string websocket_key(uint64_t a, uint64_t b) {
  unsigned char raw[16];
  for (int i = 0; i < 8; ++i) {
    raw[i] = static_cast<unsigned char>(a >> (i * 8));
    raw[8 + i] = static_cast<unsigned char>(b >> (i * 8));
  }
  unsigned char out[4 * ((sizeof raw + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, raw, sizeof raw);
  return std::string(reinterpret_cast<char*>(out), n);
}

}  // namespace gh::proxy
