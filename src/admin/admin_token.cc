#include "admin/admin_token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <utility>

#include "admin/dashboard.h"
#include "http/exchange.h"

namespace gh::admin {

namespace {

void digest(std::string_view s, unsigned char out[SHA256_DIGEST_LENGTH]) {
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
}

Response unauthorized(std::string_view method, std::string_view path) {
  Response r;
  if ((method == "GET" || method == "HEAD") && path == "/") {
    r = dashboard_page();
  } else {
    r.body = "401 the admin token is needed: Authorization: Bearer <token>\n";
  }
  r.status = 401;
  r.headers.emplace_back("WWW-Authenticate", std::string(kAdminChallenge));
  return r;
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() ||
      !http::iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ')
    return false;
  std::string_view credential = authorization.substr(scheme.size());
  while (!credential.empty() && credential.front() == ' ') credential.remove_prefix(1);
  while (!credential.empty() && (credential.back() == ' ' || credential.back() == '\t'))
    credential.remove_suffix(1);
  unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
  digest(token, want);
  digest(credential, got);
  return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

Handler require_token(Handler inner, TokenFn token) {
  return [inner = std::move(inner), token = std::move(token)](
             std::string_view method, std::string_view path, std::string_view query,
             std::string_view authorization) -> Response {
    if (path != "/healthz" && token) {
      const std::string t = token();
      if (!t.empty() && !bearer_matches(authorization, t)) return unauthorized(method, path);
    }
    return inner(method, path, query, authorization);
  };
}

}  // namespace gh::admin
