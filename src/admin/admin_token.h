// The admin token rule (admin.token_file): with a token configured, every
// admin endpoint but /healthz needs `Authorization: Bearer <token>`
// (RFC 6750 section 2.1); without one, or with a wrong one, the answer is
// 401 with `WWW-Authenticate: Bearer realm="gatehouse admin"`.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "admin/admin_server.h"

namespace gh::admin {

// What a 401 carries in WWW-Authenticate (RFC 9110 section 11.6.1).
inline constexpr std::string_view kAdminChallenge = "Bearer realm=\"gatehouse admin\"";

// Whether `authorization` (a whole Authorization field value) is
// "Bearer <token>" for exactly `token`. The scheme is matched without case
// (RFC 9110 section 11.1) and may be followed by one or more spaces; the
// credential must then be the token byte for byte. Compares SHA-256 digests
// with CRYPTO_memcmp, so the time taken tells neither how much of the token
// matched nor its length. An empty `token` matches nothing.
bool bearer_matches(std::string_view authorization, std::string_view token);

// The current token ("" when none is configured); called once per request,
// so a reload (SIGHUP) takes effect on the next request, also on a kept-alive
// connection.
using TokenFn = std::function<std::string()>;

// Wraps the admin routes with the token rule: "/healthz" always passes (load
// balancers and orchestrators probe it without secrets); with an empty token
// everything passes; otherwise a request without the right bearer token is
// answered 401 with kAdminChallenge. GET/HEAD "/" is the exception to the
// body only: the 401 carries the dashboard page itself, which then asks the
// operator for the token (its data fetches are refused the same way until it
// has the right one). A null `token` is the same as no token.
Handler require_token(Handler inner, TokenFn token);

}  // namespace gh::admin
