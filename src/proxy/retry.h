// When a request that failed upstream may be sent again: the one rule that
// every retry path shares (a stale pooled connection retried on a fresh
// one, failover to another backend, a backend found dead by health checks).
// RFC 9110 section 9.2.2 (idempotent methods) and RFC 9112 section 9.3.1: a
// proxy must not automatically retry a non-idempotent request unless it
// knows the request was not applied.
#pragma once

#include <string_view>

namespace gh::proxy {

// How far one upstream try got before it failed.
enum class TryProgress {
  not_sent,    // nothing reached the backend: DNS, connect or TLS handshake failed
  head_only,   // the head left, but not one byte of the body it announces: the
               // backend cannot have acted on a request it never received whole
  sent,        // the head and some or all of the body left (or may have)
};

// RFC 9110 section 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT and DELETE.
bool is_idempotent(std::string_view method);

// True when the request may be sent again. not_sent and head_only: always
// (the body has not left the client, or is still held whole). sent: only an
// idempotent method whose whole body gatehouse still holds
// (`body_replayable`), since a request that was applied once must not be
// applied twice.
bool may_retry(TryProgress progress, std::string_view method, bool body_replayable);

}  // namespace gh::proxy
