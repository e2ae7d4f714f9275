// OCSP stapling (RFC 6066 section 8): for each served certificate whose
// leaf names an http OCSP responder and whose issuer is in the configured
// chain, one background thread (never a worker) fetches the response with
// libcurl, checks it (tls/ocsp_response.h) and keeps the last good one; the
// handshake of a client sending status_request gets it stapled. Refreshed
// halfway to nextUpdate (hourly without one), retried with backoff (1 min
// doubling to 1 h) on failure. A revoked, unknown, unverifiable or expired
// response is never stapled: the handshake goes on without a staple and the
// log says why. Staples are kept per certificate (leaf and issuer), so a
// reload that keeps a certificate keeps its staple.
//
// For tests: GATEHOUSE_OCSP_REFRESH_MS (milliseconds, >= 100) replaces every
// refresh and retry interval.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace gh::tls {

class Staple;

// Staples OCSP responses for `leaf` (issued by `issuer`) on handshakes made
// with `ctx`, whose certificate `leaf` must be. `label` names the
// certificate in logs (its file). Returns false and does nothing when
// `leaf` names no http OCSP responder or `issuer` is null (no stapling;
// not an error). The first fetch starts at once in the background; until a
// good response arrives handshakes go without a staple. Call once per ctx.
bool enable_ocsp_stapling(SSL_CTX* ctx, X509* leaf, X509* issuer, const std::string& label);

// The same for `ctx`'s own certificate, its issuer taken from the chain
// configured on `ctx` (SSL_CTX_add1_chain_cert / extra chain certificates).
// False when the leaf has no responder URL or the issuer is not in the chain
// (logged at info: stapling needs the issuer to check responses).
bool enable_ocsp_stapling(SSL_CTX* ctx, const std::string& label);

// The DER response `ctx` would staple now, or "" for none (for tests and
// diagnostics).
std::string ocsp_staple_for(SSL_CTX* ctx);

}  // namespace gh::tls
