// The rules of an RFC 9111 shared cache that need no store: whether a
// response may be stored (section 3), how long it stays fresh (4.2.1,
// 4.2.2), how old it is (4.2.3), what to do with it for a new request (4,
// 4.2.4, 4.3.1, 5.2, RFC 5861), how a 304 updates it (3.2, 4.3.4), and how
// a client's own conditional request is answered from it (4.3.2). Keys, Vary
// and invalidation on unsafe methods (4.4) are in cache/key.h.
//
// All times are unix seconds (int64_t), all durations seconds. The caller
// supplies `now`; nothing here reads a clock or allocates, except
// merge_not_modified, which builds the updated field list.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_control.h"
#include "http/exchange.h"

namespace gh::cache {

struct Options {
  // Heuristic freshness (section 4.2.2) for responses with no explicit
  // lifetime: off by default, as the contract stores only what carries
  // s-maxage, max-age or Expires. When on: `heuristic_percent` (0..100) of
  // the time since Last-Modified (10%, the "typical setting" of 4.2.2), at
  // most `heuristic_max` seconds.
  bool heuristic = false;
  int64_t heuristic_percent = 10;
  int64_t heuristic_max = 86400;
};

// A response as the cache holds it: the response's status and fields (as
// received, Date and Age included) and the two times section 4.2.3 needs.
struct Stored {
  int status = 200;
  std::span<const http::Field> fields;
  int64_t request_time = 0;    // when the request that got it was sent upstream
  int64_t response_time = 0;   // when its head arrived
};

// RFC 9110 section 15.1 "heuristically cacheable" statuses: 200, 203, 204,
// 206, 300, 301, 308, 404, 405, 410, 414, 501.
bool cacheable_by_default(int status);

// Statuses whose caching requirements this cache implements (section 3,
// "understands"; 5.2.2.3 must-understand): the final statuses RFC 9110
// defines, except 206 and 304, which it never stores.
bool status_understood(int status);

enum class Storability : uint8_t {
  storable,
  method,            // not GET
  status,            // outside 200..599, 206 or 304
  not_understood,    // must-understand and a status not understood
  request_no_store,  // the request said no-store (5.2.1.5)
  no_store,          // the response said no-store (5.2.2.5)
  is_private,        // private, qualified or not (5.2.2.7)
  authorization,     // request with Authorization, response not public/s-maxage/must-revalidate (3.5)
  set_cookie,        // the contract's rule, stricter than RFC 9111
  vary_star,         // Vary "*" or a malformed Vary: it can never match (4.1)
  no_freshness,      // no explicit lifetime, and heuristic freshness not allowed
  no_reuse,          // lifetime 0, no validator, no stale-while-revalidate/-if-error
};

// A short name for logs and Cache-Status `detail` (an RFC 9211 token):
// "method", "no-store", "no-freshness" ...
const char* storability_text(Storability s);

// Section 3 for a shared cache, with these choices:
// - Only responses to GET are stored. HEAD is answered from a stored GET;
//   a HEAD response itself is not stored (section 4.3.5's freshening with
//   HEAD is left to the policy).
// - Final statuses only; never 206 (this store keeps complete responses: a
//   Range request is answered from a stored 200) nor 304 (it updates a
//   stored response, merge_not_modified).
// - must-understand (5.2.2.3): with an understood status, no-store is
//   ignored; with any other, not storable.
// - no-store in the request or response; private, qualified or not (a
//   qualified private allows storing the other fields, 5.2.2.7; this
//   cache does not strip fields, so it stores neither).
// - Authorization in the request: only with public, s-maxage or
//   must-revalidate (section 3.5; the contract names public and s-maxage).
// - Set-Cookie in the response: never (the contract's rule; RFC 9111 would
//   store it, Set-Cookie being just another field).
// - Vary "*" (or any Vary element that is not a field name).
// - Freshness: s-maxage, max-age or Expires present (even zero or
//   invalid: stale on arrival, useful when revalidated), or an unqualified
//   no-cache with an ETag or Last-Modified (stored to be revalidated at each
//   use). Without them only
//   with `heuristic` on and public or a status cacheable by default.
//   Section 3 would also store those with heuristic freshness off, stale on
//   arrival; the contract does not.
// - And not when it could never be reused: a lifetime of 0 (at
//   `response_time`, when the head arrived), no ETag or Last-Modified to
//   revalidate with, no stale-while-revalidate or stale-if-error.
Storability check_storable(std::string_view method, std::span<const http::Field> request_fields,
                           int status, std::span<const http::Field> response_fields,
                           int64_t response_time, const Options& options = {});

inline bool storable(std::string_view method, std::span<const http::Field> request_fields,
                     int status, std::span<const http::Field> response_fields,
                     int64_t response_time, const Options& options = {}) {
  return check_storable(method, request_fields, status, response_fields, response_time,
                        options) == Storability::storable;
}

// Freshness lifetime (section 4.2.1), 0..kDeltaMax, first rule that applies:
// s-maxage; max-age; Expires minus Date (Date absent or invalid: the
// response_time, RFC 9110 6.6.1), 0 when Expires is invalid or the first of
// several Expires lines is (5.3: "already expired"), never negative; the
// heuristic (4.2.2) when options.heuristic and the status is cacheable by
// default or the response public: heuristic_percent of Date minus a valid
// Last-Modified (not in the future of Date), capped at heuristic_max; else 0.
int64_t freshness_lifetime(const Stored& s, const ResponseCacheControl& cc,
                           const Options& options = {});
int64_t freshness_lifetime(const Stored& s, const Options& options = {});

// Current age (section 4.2.3), 0..kDeltaMax:
//   apparent_age = max(0, response_time - date_value)
//   corrected_age_value = age_value + (response_time - request_time)
//   corrected_initial_age = max(apparent_age, corrected_age_value)
//   current_age = corrected_initial_age + (now - response_time)
// date_value: Date, or response_time when Date is absent or invalid.
// age_value: the first element of the first Age line; no Age is 0, an
// invalid one (non-numeric, negative, "7200.0") kDeltaMax, i.e. stale:
// section 5.1 defines no recovery and an upstream cache's age must not be
// understated. A clock step back (now before response_time, response_time
// before request_time) counts as 0, never as negative age.
int64_t current_age(const Stored& s, int64_t now);

enum class Action : uint8_t {
  serve,                   // answer from the stored response (fresh, or stale under max-stale)
  serve_then_revalidate,   // stale within stale-while-revalidate: answer, revalidate in background
  revalidate,              // forward with the validators below (none: an unconditional fetch)
  gateway_timeout,         // only-if-cached and the stored response may not be served: 504
};

struct Decision {
  Action action = Action::revalidate;
  bool stale = false;          // age >= lifetime
  int64_t age = 0;             // current_age: the Age to send when serving
  int64_t lifetime = 0;        // freshness_lifetime
  // RFC 9211 Cache-Status `fwd` when going upstream: "stale" (the stored
  // response needs it) or "request" (the client's directives asked for it);
  // empty when serving.
  std::string_view fwd;
  // The stored validators for the conditional request (4.3.1): the ETag
  // value for If-None-Match, the Last-Modified value for If-Modified-Since;
  // empty when the stored response has none. Both are sent when both exist.
  std::string_view if_none_match;
  std::string_view if_modified_since;
};

// What to do with a stored response (one that matched the request's key and
// Vary) for a GET or HEAD request, in this order:
//  1. no-cache in the response (qualified or not: the field-list form is
//     treated as unqualified, as section 5.2.2.4 notes most caches do) ->
//     revalidate ("stale"); no-cache in the request -> revalidate
//     ("request").
//  2. Request max-age: age above it -> revalidate ("request").
//  3. Fresh (age < lifetime): serve, unless the request's min-fresh wants
//     more remaining life -> revalidate ("request").
//  4. Stale: must-revalidate, proxy-revalidate or s-maxage forbid serving it
//     (5.2.2.2, 5.2.2.8, 5.2.2.10, 4.2.4) -> revalidate. Otherwise the
//     request's max-stale covering the staleness -> serve; within the
//     response's stale-while-revalidate (and no min-fresh) ->
//     serve_then_revalidate; else revalidate ("stale").
//  5. only-if-cached turns any revalidate into gateway_timeout (5.2.1.7).
// Pragma is not read (deprecated, section 5.4).
Decision decide(const Stored& s, std::span<const http::Field> request_fields, int64_t now,
                const Options& options = {});

// Whether, after the revalidation or fetch for this request failed with
// `upstream_status` (500, 502, 503, 504; 0 for no response at all), the
// stored response may be served instead (RFC 5861 section 4; RFC 9111
// 4.2.4). Never with no-cache, must-revalidate, proxy-revalidate or s-maxage
// in the response, or no-cache in the request. A still-fresh response may;
// a stale one only within the largest of the response's stale-if-error,
// the request's stale-if-error and the request's max-stale.
bool serve_stale_on_error(const Stored& s, std::span<const http::Field> request_fields,
                          int upstream_status, int64_t now, const Options& options = {});

// Section 3.1: whether a response field is kept when storing. Not kept:
// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade (hop by hop, RFC 9110 7.6.1) and Proxy-Authenticate,
// Proxy-Authentication-Info, Proxy-Authorization (specific to the proxy).
// Fields a Connection line names are hop by hop too; the codecs drop those.
bool stored_field(std::string_view name);

// Section 4.3.4: whether a 304's validators select the stored response. An
// ETag in the 304 decides alone: a strong one must equal the stored ETag
// strongly (both strong, same opaque-tag), a weak one match it weakly (same
// opaque-tag). Without an ETag, a Last-Modified must equal the stored one
// byte for byte (the origin echoes the value we sent).
// A 304 with neither selects it: we revalidate one stored response at a
// time with its own validators, so the 304 can only be about it (the RFC
// asks for this only when the stored response lacks validators too; origins
// that omit ETag from 304s are common enough to be lenient here).
bool not_modified_selects(std::span<const http::Field> stored_fields,
                          std::span<const http::Field> not_modified_fields);

struct OwnedField {
  std::string name;
  std::string value;
};

// Sections 3.2 and 4.3.4: the stored fields updated by a 304. Each field
// name the 304 carries replaces every stored line of that name (the 304's
// lines appended in their order, the stored order kept otherwise), except:
// Content-Length (3.2); Content-Encoding, Content-Range, Transfer-Encoding
// and the digests (Content-MD5, Digest, Content-Digest, Repr-Digest), which
// describe the stored bytes, not the 304; Vary,
// which the stored variant's secondary key was made from; Set-Cookie, which
// is for the one client whose request caused the revalidation (merged, it
// would go to every later client; the contract stores no Set-Cookie); and
// fields not stored at all (stored_field). Date and Age come from the 304: the caller
// must also set request_time and response_time to the revalidation's.
std::vector<OwnedField> merge_not_modified(std::span<const http::Field> stored_fields,
                                           std::span<const http::Field> not_modified_fields);

// Section 4.3.2: whether a client's conditional GET or HEAD answered from
// `s` gets 304 rather than the stored response. If-None-Match, when
// present, decides alone: "*" or an entity-tag matching the stored ETag
// weakly (RFC 9110 13.1.2) -> 304. Otherwise a valid If-Modified-Since
// (13.1.3) not earlier than the stored Last-Modified (or Date, or the
// response_time when neither is valid) -> 304. If-Match, If-Unmodified-Since
// and If-Range do not apply to a cache (4.3.2) and are not read here.
bool client_not_modified(std::span<const http::Field> request_fields, const Stored& s);

}  // namespace gh::cache
