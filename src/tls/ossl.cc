#include "tls/ossl.h"

namespace gh::tls {

std::string take_ossl_error(const char* fallback) {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return fallback;
  const char* reason = ERR_reason_error_string(first);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof buf);
  return buf;
}

}  // namespace gh::tls
