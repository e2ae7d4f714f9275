#include "policy/password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cstring>
#include <memory>

namespace gh::policy {

bool verify_password(std::string_view password, const std::string& hash) {
  // crypt_data is about 32 KiB: one per thread, not on the stack.
  thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  std::string pw(password);   // NUL-terminated for crypt_r
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  OPENSSL_cleanse(pw.data(), pw.size());
  // libxcrypt returns a "*0"/"*1" failure token (or NULL) for bad settings.
  if (!out || out[0] == '*') return false;
  size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

}  // namespace gh::policy
