// Responses gatehouse makes itself (proxy-made errors, redirects, policy
// answers), composed once for every downstream protocol: the status, the
// fields and the body, with the route's error page where one applies and
// RFC 9209 Proxy-Status on errors. Each downstream only frames the result.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "http/exchange.h"
#include "policy/pipeline.h"
#include "proxy/downstream.h"
#include "proxy/head_edits.h"

namespace gh::proxy {

struct OwnResponse {
  int status = 0;
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string_view body;        // the page, or `text`
  std::string text;             // the plain-text body when there is no page
  std::string proxy_status;     // the Proxy-Status value; empty for a redirect
  const char* error = "";       // RFC 9209 error type, "" for a redirect
  std::string_view details;     // what the client may see of the details (for gRPC)
};

// A proxy-made error (RFC 9209 section 2): Proxy-Status names `error`, and
// `details` and `next_hop` unless the pipeline hides backends (obfuscate;
// both often name a backend). The body is the pipeline's page for `status`
// (`from_backend`: the backend's own status, replaced only with
// intercept_errors) or "STATUS Reason: error (details)\n". `pipe` may be null.
void make_error(OwnResponse& r, const policy::Pipeline* pipe, int status, const char* error,
                std::string_view details, std::string_view next_hop, bool from_backend = false);

// A response that is not a proxy-made error (a redirect, or a backend's
// error status under intercept_errors: `from_backend`): `text` as its body,
// or the pipeline's page for `status` where one is configured.
void make_plain(OwnResponse& r, const policy::Pipeline* pipe, int status, std::string_view text,
                bool from_backend = false);

// A policy's answer relayed as another server made it (policy::Answer with
// a body: forward_auth's non-2xx): its status, body and content type, with
// Proxy-Status naming the refusal; never replaced by an error page.
void make_relayed(OwnResponse& r, const policy::Answer& a);

// The fields of `r` in order through `w`: Date, Content-Type,
// Content-Length, Proxy-Status (errors), `extra` (Location,
// WWW-Authenticate ...; those the response rules drop left out), X-Request-ID (unless a rule drops it), the
// response rules' added fields. Framing and connection fields are the
// downstream's.
void write_own_fields(FieldWriter& w, const OwnResponse& r, std::span<const http::Field> extra,
                      std::string_view request_id, const HeadEdits& edits);

// The gRPC status code for a proxy-made HTTP status (gRPC's "HTTP to gRPC
// status code mapping"): 400 INTERNAL, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, else
// UNKNOWN.
int grpc_status_for(int http_status);

// True when a request's Content-Type is gRPC's ("application/grpc", with or
// without "+proto"/"+json" or parameters).
bool is_grpc_request(std::span<const http::Field> fields);

}  // namespace gh::proxy
