// HTTP-date (RFC 9110 section 5.6.7): the timestamps of Date, Expires,
// Last-Modified and If-Modified-Since, as unix seconds. The project had a
// writer only (http::http_date(), the current time for Date); this is the
// parser the cache needs, and a writer for any given time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::cache {

// Parses one HTTP-date to seconds since 1970-01-01T00:00:00Z (negative
// before 1970). Accepts the three forms a recipient must accept:
//   IMF-fixdate   "Sun, 06 Nov 1994 08:49:37 GMT"
//   rfc850-date   "Sunday, 06-Nov-94 08:49:37 GMT"   (obsolete)
//   asctime-date  "Sun Nov  6 08:49:37 1994"         (obsolete; day " 6" or "06")
// exactly as the grammar spells them: single spaces, two-digit day, hour,
// minute and second, four-digit year (two in rfc850), seconds 00..60 (60 is
// a leap second and lands on the next second), a day that exists in that
// month. The field value arrives trimmed; surrounding whitespace is refused.
//
// One liberty: day names, month names and "GMT" match in any case
// ("THU, 18 AUG 2050 02:01:18 gmt"). RFC 9110 calls HTTP-date case
// sensitive, but no other reading of such a value exists and caches commonly
// accept it. The day name must be a day name but is not checked against the
// date (a wrong one changes nothing about the instant).
//
// rfc850's two-digit year is placed, as section 5.6.7 requires, so that it
// is not more than 50 years after `now` (unix seconds): with now in 2025,
// "94" is 1994 and "30" is 2030. `now` matters for no other form.
//
// Refused (nullopt): anything else, including "0" and "-1" (which RFC 9111
// section 5.3 says to read as "in the past"; callers decide that), a time
// zone other than GMT, and trailing bytes.
std::optional<int64_t> parse_http_date(std::string_view s, int64_t now);

// Appends `t` (unix seconds) as an IMF-fixdate, always 29 bytes. Years are
// clamped to 0000..9999.
void append_http_date(std::string& out, int64_t t);

}  // namespace gh::cache
