// Cache-Control (RFC 9111 section 5.2): the request and response directives
// a shared cache acts on, parsed into fixed structs. Nothing here allocates:
// a cache parses these for every request and response on a cached route.
// The arguments kept as text (no-cache's and private's field lists) are views
// into the field lines, valid as long as those are.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "http/exchange.h"

namespace gh::cache {

// RFC 9111 section 1.2.2: a delta-seconds too large to represent is taken
// as 2^31 seconds (about 68 years); so is any age or lifetime computed here.
inline constexpr int64_t kDeltaMax = int64_t{1} << 31;

// delta-seconds (section 1.2.2): 1*DIGIT, leading zeros allowed ("003600"),
// clamped to kDeltaMax. Refuses empty, signs, spaces, decimals ("3600.0"),
// anything but digits.
std::optional<int64_t> parse_delta_seconds(std::string_view s);

// The request directives of section 5.2.1, plus RFC 5861's stale-if-error
// (which a client may send too). Absent durations are nullopt; durations in
// seconds, at most kDeltaMax.
struct RequestCacheControl {
  std::optional<int64_t> max_age;         // 5.2.1.1; an invalid argument counts as 0
  bool max_stale = false;                 // 5.2.1.2, with or without a value
  std::optional<int64_t> max_stale_limit; // its value; nullopt with max_stale: any staleness
  std::optional<int64_t> min_fresh;       // 5.2.1.3
  std::optional<int64_t> stale_if_error;  // RFC 5861 section 4
  bool no_cache = false;                  // 5.2.1.4
  bool no_store = false;                  // 5.2.1.5
  bool no_transform = false;              // 5.2.1.6
  bool only_if_cached = false;            // 5.2.1.7
};

// The response directives of section 5.2.2, plus RFC 5861's two and RFC
// 8246's immutable.
struct ResponseCacheControl {
  std::optional<int64_t> max_age;                 // 5.2.2.1; an invalid argument counts as 0
  std::optional<int64_t> s_maxage;                // 5.2.2.10; likewise
  std::optional<int64_t> stale_while_revalidate;  // RFC 5861 section 3
  std::optional<int64_t> stale_if_error;          // RFC 5861 section 4
  bool no_cache = false;                          // 5.2.2.4, qualified or not
  std::string_view no_cache_fields;               // its field list as sent (no quotes); empty: unqualified
  bool is_private = false;                        // 5.2.2.7, qualified or not
  std::string_view private_fields;                // likewise
  bool no_store = false;                          // 5.2.2.5
  bool is_public = false;                         // 5.2.2.9
  bool must_revalidate = false;                   // 5.2.2.2
  bool proxy_revalidate = false;                  // 5.2.2.8
  bool must_understand = false;                   // 5.2.2.3
  bool no_transform = false;                      // 5.2.2.6
  bool immutable = false;                         // RFC 8246
};

// Parses the values of every Cache-Control field line, in order: several
// lines are one comma list (RFC 9110 section 5.3).
//
// Each element is `token [ "=" ( token / quoted-string ) ]` with no
// whitespace around "=" (5.2); names match in any case; an argument may be
// a token or a quoted-string whatever the directive (max-age="3600" is
// 3600), since section 5.2 asks recipients to accept both. Unknown
// directives are ignored (5.2.3).
//
// Duplicates: the first occurrence counts (section 4.2.1 allows "the first
// occurrence" or "stale"; first is predictable and what the RFC names
// first): "max-age=1800, max-age=1" is 1800, on one line or two.
//
// Invalid arguments: a max-age or s-maxage whose argument is not
// delta-seconds ("max-age=3600.5", "max-age='1'", a bare "max-age") is 0,
// i.e. stale, as section 4.2.1 encourages; the request's max-age likewise
// (the client then gets a revalidated response). An invalid max-stale,
// min-fresh, stale-while-revalidate or stale-if-error is ignored: each only
// widens what may be served, so ignoring it is the safe reading.
//
// Malformed elements (space around "=", an empty or unterminated argument,
// junk after the argument, a quoted "max-age" inside another directive's
// argument) are skipped up to the next comma outside a quoted-string, with
// one exception: if its name is a restrictive directive (no-store, no-cache,
// private, must-revalidate, proxy-revalidate, and for requests no-cache and
// no-store), that directive still applies, unqualified. Restrictive
// directives given an argument they do not take still apply; public and
// immutable given one are ignored (they only widen caching).
RequestCacheControl parse_request_cache_control(std::span<const std::string_view> lines);
ResponseCacheControl parse_response_cache_control(std::span<const std::string_view> lines);

// The same, from a message's fields (every field line named Cache-Control,
// any case).
RequestCacheControl request_cache_control(std::span<const http::Field> fields);
ResponseCacheControl response_cache_control(std::span<const http::Field> fields);

// Calls `f(name)` for each field name of a no-cache or private field list
// (as kept above): comma separated, OWS trimmed, empty elements skipped.
// Backslash escapes are not undone (no field name needs one).
template <class F>
void for_each_listed_field(std::string_view list, F&& f) {
  size_t i = 0;
  while (i <= list.size()) {
    size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view e = list.substr(i, comma - i);
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    if (!e.empty()) f(e);
    i = comma + 1;
  }
}

}  // namespace gh::cache
