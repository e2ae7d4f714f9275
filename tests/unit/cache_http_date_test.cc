// HTTP-date (RFC 9110 section 5.6.7): the three forms, their exact
// grammar, two-digit years, and the writer; cases after the
// http-cache-tests "expires-parse" category.
#include "cache/http_date.h"

#include <gtest/gtest.h>

#include <string>

namespace gh::cache {
namespace {

constexpr int64_t kNow = 1700000000;   // 2023-11-14T22:13:20Z
constexpr int64_t kExample = 784111777;   // Sun, 06 Nov 1994 08:49:37 GMT

std::optional<int64_t> parse(std::string_view s) { return parse_http_date(s, kNow); }

// Section 5.6.7's own example, in its three forms.
TEST(CacheHttpDate, RfcExampleInAllThreeForms) {
  EXPECT_EQ(parse("Sun, 06 Nov 1994 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse("Sunday, 06-Nov-94 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse("Sun Nov  6 08:49:37 1994"), kExample);
}

TEST(CacheHttpDate, KnownInstants) {
  EXPECT_EQ(parse("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
  EXPECT_EQ(parse("Tue, 14 Nov 2023 22:13:20 GMT"), kNow);
  EXPECT_EQ(parse("Thu, 01 Dec 1994 16:00:00 GMT"), 786297600);   // RFC 9111 5.3's Expires
  EXPECT_EQ(parse("Sat, 29 Oct 1994 19:43:31 GMT"), 783459811);   // RFC 9110 13.1.3's
  EXPECT_EQ(parse("Tue, 19 Jan 2038 03:14:08 GMT"), 2147483648);
  EXPECT_EQ(parse("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
  EXPECT_EQ(parse("Mon, 01 Jan 0001 00:00:00 GMT"), -62135596800);
}

TEST(CacheHttpDate, AsctimeDayForms) {
  EXPECT_EQ(parse("Sun Nov 16 08:49:37 1994"), kExample + 10 * 86400);
  EXPECT_EQ(parse("Sun Nov 06 08:49:37 1994"), kExample);   // 2DIGIT is allowed too
  EXPECT_FALSE(parse("Sun Nov 6 08:49:37 1994"));
  EXPECT_FALSE(parse("Sun Nov  6 08:49:37 1994 "));
}

TEST(CacheHttpDate, Rfc850LongDayNames) {
  EXPECT_EQ(parse("Wednesday, 09-Nov-94 08:49:37 GMT"), kExample + 3 * 86400);
  EXPECT_EQ(parse("Monday, 07-Nov-94 08:49:37 GMT"), kExample + 86400);
  EXPECT_FALSE(parse("Sun, 06-Nov-94 08:49:37 GMT"));   // rfc850 takes the long name
  EXPECT_FALSE(parse("Sunday, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Funday, 06-Nov-94 08:49:37 GMT"));
}

// Section 5.6.7: a two-digit year more than 50 years in the future means
// the most recent past year with those digits.
TEST(CacheHttpDate, Rfc850TwoDigitYears) {
  // now: 2023-11-14
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", kNow), kExample);   // 1994
  auto year_of = [](std::string_view s, int64_t now) {
    std::optional<int64_t> t = parse_http_date(s, now);
    std::string out;
    if (t) append_http_date(out, *t);
    return out.empty() ? std::string() : out.substr(12, 4);
  };
  EXPECT_EQ(year_of("Thursday, 18-Aug-50 02:01:18 GMT", kNow), "2050");
  EXPECT_EQ(year_of("Saturday, 01-Jan-73 00:00:00 GMT", kNow), "2073");   // 49 years ahead
  EXPECT_EQ(year_of("Monday, 01-Jan-74 00:00:00 GMT", kNow), "1974");     // 2074 is over 50
  EXPECT_EQ(year_of("Friday, 01-Jan-00 00:00:00 GMT", kNow), "2000");
  // Near the 50-year edge, within the year: 2073-11-14 is exactly 50 years.
  EXPECT_EQ(year_of("Friday, 01-Dec-73 00:00:00 GMT", kNow), "1973");
  // Another now: in 2090, "10" is 2110 (20 years ahead), "99" 2099.
  int64_t y2090 = *parse("Sun, 01 Jan 2090 00:00:00 GMT");
  EXPECT_EQ(year_of("Friday, 01-Jan-10 00:00:00 GMT", y2090), "2110");
  EXPECT_EQ(year_of("Thursday, 01-Jan-99 00:00:00 GMT", y2090), "2099");
}

// expires-parse: names in any case are accepted (the liberty the header
// documents); the rest of the grammar is exact.
TEST(CacheHttpDate, NamesAnyCase) {
  EXPECT_EQ(parse("THU, 18 Aug 2050 02:01:18 GMT"), parse("Thu, 18 Aug 2050 02:01:18 GMT"));
  EXPECT_EQ(parse("Thu, 18 AUG 2050 02:01:18 GMT"), parse("Thu, 18 Aug 2050 02:01:18 GMT"));
  EXPECT_EQ(parse("Thu, 18 Aug 2050 02:01:18 gMT"), parse("Thu, 18 Aug 2050 02:01:18 GMT"));
  EXPECT_TRUE(parse("Thu, 18 Aug 2050 02:01:18 GMT"));
}

TEST(CacheHttpDate, ExpiresParseInvalidForms) {
  EXPECT_FALSE(parse("Thu, 18 Aug 2050 02:01:18 UTC"));
  EXPECT_FALSE(parse("Thu, 18 Aug 50 02:01:18 GMT"));     // two-digit year in IMF
  EXPECT_FALSE(parse("Thu 18 Aug 2050 02:01:18 GMT"));    // no comma
  EXPECT_FALSE(parse("Thu, 18  Aug  2050 02:01:18 GMT"));  // double spaces
  EXPECT_FALSE(parse("Thu, 18-Aug-2050 02:01:18 GMT"));   // dashes
  EXPECT_FALSE(parse("Thu, 18 Aug 2050 02.01.18 GMT"));   // periods
  EXPECT_FALSE(parse("Thu, 18 Aug 2050 2:01:18 GMT"));    // one-digit hour
}

TEST(CacheHttpDate, Refused) {
  EXPECT_FALSE(parse(""));
  EXPECT_FALSE(parse("0"));    // RFC 9111 5.3's "0": invalid here, "in the past" to callers
  EXPECT_FALSE(parse("-1"));
  EXPECT_FALSE(parse(" Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:49:37 GMT "));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:49:37 GMTX"));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:49:37 +0000"));
  EXPECT_FALSE(parse("Xyz, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 6 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 24:00:00 GMT"));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:60:00 GMT"));
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:49:61 GMT"));
  EXPECT_FALSE(parse("Sun, 00 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 31 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse("Sun, 29 Feb 1900 00:00:00 GMT"));   // not a leap year
  EXPECT_FALSE(parse("Sun, 06 Nov 1994 08:49:37"));
  EXPECT_FALSE(parse("Sun, 06 Nov +994 08:49:37 GMT"));
}

TEST(CacheHttpDate, LeapDaysAndSeconds) {
  EXPECT_EQ(parse("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
  EXPECT_EQ(parse("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
  EXPECT_FALSE(parse("Sat, 29 Feb 2023 00:00:00 GMT"));
  // Second 60 (a leap second) is the next second.
  EXPECT_EQ(parse("Sat, 31 Dec 2016 23:59:60 GMT"), *parse("Sun, 01 Jan 2017 00:00:00 GMT"));
}

// The day name is not checked against the date (it changes nothing).
TEST(CacheHttpDate, DayNameNotCrossChecked) {
  EXPECT_EQ(parse("Mon, 06 Nov 1994 08:49:37 GMT"), kExample);
}

TEST(CacheHttpDate, WriterIsImfFixdate) {
  std::string s;
  append_http_date(s, kExample);
  EXPECT_EQ(s, "Sun, 06 Nov 1994 08:49:37 GMT");
  s.clear();
  append_http_date(s, 0);
  EXPECT_EQ(s, "Thu, 01 Jan 1970 00:00:00 GMT");
  s.clear();
  append_http_date(s, -1);
  EXPECT_EQ(s, "Wed, 31 Dec 1969 23:59:59 GMT");
  s.clear();
  append_http_date(s, int64_t{1} << 40);   // clamped to year 9999
  EXPECT_EQ(s, "Fri, 31 Dec 9999 23:59:59 GMT");
  s = "x";
  append_http_date(s, kNow);
  EXPECT_EQ(s, "xTue, 14 Nov 2023 22:13:20 GMT");
}

TEST(CacheHttpDate, RoundTrip) {
  for (int64_t t = -2208988800; t < 4102444800; t += 86400 * 37 + 3671) {
    std::string s;
    append_http_date(s, t);
    ASSERT_EQ(parse_http_date(s, kNow), t) << s;
  }
}

}  // namespace
}  // namespace gh::cache
