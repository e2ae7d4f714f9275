// Constructors of every policy kind, one file each in src/policy. The
// pipeline (pipeline.cc) is the only caller.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "policy/policy.h"

namespace gh::policy {

// Server field and obfuscation (server_header, obfuscate): response edits only.
std::unique_ptr<Policy> make_response_identity(const std::string& server_header, bool obfuscate);
// headers.request / headers.response: static edits only.
std::unique_ptr<Policy> make_header_rules(const config::HeaderRules& rules);
// error_pages (+ intercept_errors): the error phase.
std::unique_ptr<Policy> make_error_pages(const std::vector<config::ErrorPage>& pages, bool intercept);
// access: allow/deny by client address; 403.
std::unique_ptr<Policy> make_access(const config::AccessRules& rules);
// rate_limit: a token bucket per key (store: local or redis); 429 with Retry-After.
std::unique_ptr<Policy> make_rate_limit(const config::RateLimit& conf);
// waf: ModSecurity rules (the OWASP CRS or rule files) over the request's
// head and its body's first bytes; 403 (block) or only logged (detect).
std::unique_ptr<Policy> make_waf(const config::Waf& conf);
// basic_auth: htpasswd users, bcrypt/SHA-crypt via libcrypt; 401.
std::unique_ptr<Policy> make_basic_auth(const config::BasicAuth& conf);
// forward_auth: asks an auth service (GET url) about each request; its 2xx
// lets the request through, anything else is relayed to the client.
std::unique_ptr<Policy> make_forward_auth(const config::ForwardAuth& conf);
// jwt: bearer tokens verified against a JWK Set (file or URL); 401.
std::unique_ptr<Policy> make_jwt(const config::Jwt& conf);

}  // namespace gh::policy
