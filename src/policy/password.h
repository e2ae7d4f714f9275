// Password checks against crypt(3) hashes through the system's libcrypt
// (libxcrypt: crypt_r), never hashing code of our own.
#pragma once

#include <string>
#include <string_view>

namespace gh::policy {

// True when `password` hashes to `hash` (bcrypt $2y$/$2b$/$2a$ or SHA-crypt
// $5$/$6$; other methods libcrypt knows work too but config loading refuses
// them). The comparison of the results is constant-time. Blocking: bcrypt
// cost 10 takes about 50 ms; call it through run_blocking. Thread-safe.
bool verify_password(std::string_view password, const std::string& hash);

}  // namespace gh::policy
