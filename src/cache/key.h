// Cache keys (RFC 9111 sections 2 and 4.1) and the URIs an unsafe request
// invalidates (4.4).
//
// The primary key names the target resource: "scheme://authority/path?query"
// in one normal spelling, the same for GET and HEAD (this cache stores GET
// responses only and answers HEAD from them). The secondary key records, for
// a stored response with Vary, the request's values of the fields it names;
// a new request may use that stored response only if its own values give the
// same secondary key (variant_matches).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/exchange.h"

namespace gh::cache {

// Appends the primary key to `out`: lower-case scheme, "://", the
// authority lower-cased (RFC 3986 6.2.2.1) without an empty or default port
// (":80" for http, ":443" for https, 6.2.3), then `target` (path and query)
// byte for byte. The forward path gives the target as the client sent it,
// which is what the backend receives (RequestHead::path), not the
// normalized form routes match: keyed by "/a/b", the backend's answer to
// "/a//b" (which it may resolve otherwise, or echo) would be served to every
// client of "/a/b" (cache poisoning). "HTTPS", "Example.COM:443",
// "/x?b=1&a=2" -> "https://example.com/x?b=1&a=2". Empty authority (an
// HTTP/1.0 request with no Host) gives "http:///x": still one key per path.
void append_primary_key(std::string& out, std::string_view scheme, std::string_view authority,
                        std::string_view target);
std::string primary_key(std::string_view scheme, std::string_view authority,
                        std::string_view target);
inline std::string primary_key(const http::RequestHead& req) {
  return primary_key(req.scheme, req.authority, req.path);
}

// Whether a response's Vary (every line, RFC 9110 12.5.5) contains "*", or
// an element that is not a field name (a token): such a response matches no
// later request (4.1), so it is not worth storing. An empty Vary or none at
// all: false.
bool vary_unmatchable(std::span<const http::Field> response_fields);

// Appends the secondary key of a request for a stored response's Vary to
// `out`; nothing when the response has no Vary (or an empty one). For each
// field name the Vary lists, in its order: the name lower-cased, then ":"
// and the request's value, or "!" when the request has no such field (an
// absent field only matches an absent one, 4.1), entries separated by "\n"
// (which no field value holds). The value is normalized as 4.1 allows,
// "in a way known to be semantically equivalent": every line of that name
// in order, each split into comma-separated elements (commas in a
// quoted-string do not split), each element OWS-trimmed, empty elements
// dropped (RFC 9110 5.6.1), joined with ", ". So "gzip,br", "gzip , br" and
// two lines "gzip" and "br" are one value. Field names match in any case.
// Call only for a response where vary_unmatchable is false.
void append_secondary_key(std::string& out, std::span<const http::Field> response_fields,
                          std::span<const http::Field> request_fields);
std::string secondary_key(std::span<const http::Field> response_fields,
                          std::span<const http::Field> request_fields);

// Whether a new request selects a stored variant (4.1): its secondary key,
// computed from the stored response's Vary, equals the one recorded at
// storing time. Compares in place, without building the new key, so it
// allocates nothing. False for an unmatchable Vary.
bool variant_matches(std::string_view stored_secondary_key,
                     std::span<const http::Field> stored_response_fields,
                     std::span<const http::Field> request_fields);

// RFC 9110 9.2.1: GET, HEAD, OPTIONS and TRACE (methods are case
// sensitive). Every other method, known or not, is unsafe here (4.4).
bool is_safe_method(std::string_view method);

// Section 4.4: the primary keys to invalidate after an unsafe request got
// a non-error response (status 200..399): the target URI (`target` as in
// append_primary_key), then the URIs of
// Location and Content-Location (their first line each) when they have the
// target's origin (same scheme and authority after the normalization of
// append_primary_key; RFC 9110 4.3.1). References are resolved against the
// target (RFC 3986 5.2: absolute "http://h/p", network-path "//h/p",
// absolute-path "/p", relative "p" and "../p", query-only "?q"), their
// fragment dropped, then normalized with http::normalize_path; a reference
// that fails to parse or normalize, or of another origin, is skipped.
// Duplicates are removed. Empty for a safe method or an error status (an
// optimal cache keeps its entries when the unsafe request failed).
std::vector<std::string> invalidation_keys(std::string_view method, std::string_view scheme,
                                           std::string_view authority,
                                           std::string_view target, int status,
                                           std::span<const http::Field> response_fields);

}  // namespace gh::cache
