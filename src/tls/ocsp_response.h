// OCSP (RFC 6960) pieces for stapling: the responder URL of a certificate,
// the request to send, and the check of what comes back. Pure OpenSSL, no
// I/O: tls/ocsp_stapler.h does the fetching and the stapling.
#pragma once

#include <openssl/x509.h>

#include <ctime>
#include <string>
#include <string_view>

namespace gh::tls {

// The first http:// OCSP responder URL in `cert`'s Authority Information
// Access extension (RFC 5280 4.2.2.1), or "" when there is none. https
// responders are skipped: OCSP responses are signed, and fetching them over
// TLS could depend on the very staple being fetched.
std::string ocsp_responder_url(X509* cert);

// A DER OCSPRequest for `leaf` issued by `issuer` (SHA-1 CertID, the one
// every responder answers, RFC 6960 4.1.1; no nonce, as CAs precompute
// responses). Empty when OpenSSL fails.
std::string ocsp_request_der(X509* leaf, X509* issuer);

// What a response says about a certificate.
struct OcspCheck {
  enum class Status { good, revoked, unknown, invalid };
  Status status = Status::invalid;
  std::string why;          // for anything but good: a phrase for the log
  time_t this_update = 0;   // seconds since the epoch
  time_t next_update = 0;   // 0: the responder gave none (fresh data at any time)
};

// Checks DER `der` as the answer about `leaf` issued by `issuer`: a
// successful response (RFC 6960 4.2.1), signed by `issuer` or by a responder
// certificate `issuer` issued for OCSP signing (4.2.2.2), holding a status
// for this CertID, with thisUpdate not in the future and nextUpdate not in
// the past (5 minutes of clock skew allowed). `good` only when all hold and
// the status is good; `revoked` and `unknown` when a valid response says so;
// `invalid` (with why) for anything else. Accepts any bytes.
OcspCheck check_ocsp_response(std::string_view der, X509* leaf, X509* issuer);

}  // namespace gh::tls
