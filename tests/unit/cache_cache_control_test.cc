// Cache-Control parsing (RFC 9111 section 5.2): request and response
// directives, several lines as one list, token and quoted-string arguments,
// delta-seconds clamping (1.2.2), duplicates and malformed elements; cases
// after the http-cache-tests "cc-parse" category.
#include "cache/cache_control.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

// Counts this thread's allocations, to show the parsers (and the key
// matching, see cache_key_test.cc) make none.
#include "alloc_counter.h"

namespace gh::cache {
namespace {

ResponseCacheControl resp(std::initializer_list<std::string_view> lines) {
  return parse_response_cache_control(std::span<const std::string_view>(lines.begin(), lines.size()));
}
RequestCacheControl req(std::initializer_list<std::string_view> lines) {
  return parse_request_cache_control(std::span<const std::string_view>(lines.begin(), lines.size()));
}

TEST(CacheDeltaSeconds, DigitsOnly) {
  EXPECT_EQ(parse_delta_seconds("0"), 0);
  EXPECT_EQ(parse_delta_seconds("3600"), 3600);
  EXPECT_EQ(parse_delta_seconds("003600"), 3600);
  EXPECT_FALSE(parse_delta_seconds(""));
  EXPECT_FALSE(parse_delta_seconds("-1"));
  EXPECT_FALSE(parse_delta_seconds("+1"));
  EXPECT_FALSE(parse_delta_seconds("3600.0"));
  EXPECT_FALSE(parse_delta_seconds(" 1"));
  EXPECT_FALSE(parse_delta_seconds("1a"));
}

// Section 1.2.2: too large to represent -> 2^31.
TEST(CacheDeltaSeconds, OverflowClampsTo2Pow31) {
  EXPECT_EQ(parse_delta_seconds("2147483647"), 2147483647);
  EXPECT_EQ(parse_delta_seconds("2147483648"), kDeltaMax);
  EXPECT_EQ(parse_delta_seconds("2147483649"), kDeltaMax);
  EXPECT_EQ(parse_delta_seconds("99999999999999999999999999999999"), kDeltaMax);
}

TEST(CacheControlResponse, EveryDirective) {
  ResponseCacheControl cc = resp(
      {"max-age=60, s-maxage=30, no-cache, no-store, private, public, must-revalidate, "
       "proxy-revalidate, must-understand, no-transform, immutable, stale-while-revalidate=5, "
       "stale-if-error=7"});
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_EQ(cc.s_maxage, 30);
  EXPECT_TRUE(cc.no_cache);
  EXPECT_TRUE(cc.no_cache_fields.empty());
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.is_private);
  EXPECT_TRUE(cc.is_public);
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_TRUE(cc.proxy_revalidate);
  EXPECT_TRUE(cc.must_understand);
  EXPECT_TRUE(cc.no_transform);
  EXPECT_TRUE(cc.immutable);
  EXPECT_EQ(cc.stale_while_revalidate, 5);
  EXPECT_EQ(cc.stale_if_error, 7);
}

TEST(CacheControlResponse, NothingGivesDefaults) {
  ResponseCacheControl cc = resp({});
  EXPECT_FALSE(cc.max_age);
  EXPECT_FALSE(cc.s_maxage);
  EXPECT_FALSE(cc.no_cache || cc.no_store || cc.is_private || cc.is_public);
  cc = resp({"", " , ,, "});
  EXPECT_FALSE(cc.max_age || cc.no_store);
}

TEST(CacheControlRequest, EveryDirective) {
  RequestCacheControl cc = req({"max-age=10, max-stale=20, min-fresh=30, no-cache, no-store, "
                                "no-transform, only-if-cached, stale-if-error=40"});
  EXPECT_EQ(cc.max_age, 10);
  EXPECT_TRUE(cc.max_stale);
  EXPECT_EQ(cc.max_stale_limit, 20);
  EXPECT_EQ(cc.min_fresh, 30);
  EXPECT_TRUE(cc.no_cache);
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.no_transform);
  EXPECT_TRUE(cc.only_if_cached);
  EXPECT_EQ(cc.stale_if_error, 40);
}

// 5.2.1.2: max-stale without a value accepts any staleness.
TEST(CacheControlRequest, MaxStaleWithoutValue) {
  RequestCacheControl cc = req({"max-stale"});
  EXPECT_TRUE(cc.max_stale);
  EXPECT_FALSE(cc.max_stale_limit);
  cc = req({"max-stale=abc"});   // invalid: ignored, never "any"
  EXPECT_FALSE(cc.max_stale);
}

// Section 5.2: names are case-insensitive.
TEST(CacheControlParse, NamesAnyCase) {
  ResponseCacheControl cc = resp({"Max-Age=5, NO-STORE, S-MaxAge=3"});
  EXPECT_EQ(cc.max_age, 5);
  EXPECT_EQ(cc.s_maxage, 3);
  EXPECT_TRUE(cc.no_store);
}

// Section 5.2: recipients accept the quoted-string form (its example:
// max-age="5").
TEST(CacheControlParse, QuotedArgument) {
  EXPECT_EQ(resp({"max-age=\"5\""}).max_age, 5);
  EXPECT_EQ(resp({"max-age=\"3600\""}).max_age, 3600);   // cc-parse freshness-max-age-quoted
  EXPECT_EQ(req({"min-fresh=\"9\""}).min_fresh, 9);
}

// RFC 9110 5.3: several lines are one list.
TEST(CacheControlParse, SeveralLinesAreOneList) {
  ResponseCacheControl cc = resp({"public", "max-age=60", "must-revalidate"});
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_TRUE(cc.must_revalidate);
}

// cc-parse freshness-max-age-two-*: the first occurrence counts, same line
// or separate lines (4.2.1).
TEST(CacheControlParse, DuplicatesFirstWins) {
  EXPECT_EQ(resp({"max-age=1800, max-age=1"}).max_age, 1800);
  EXPECT_EQ(resp({"max-age=1800", "max-age=1"}).max_age, 1800);
  EXPECT_EQ(resp({"max-age=1, max-age=1800"}).max_age, 1);
  EXPECT_EQ(resp({"max-age=1", "max-age=1800"}).max_age, 1);
  EXPECT_EQ(req({"max-age=5, max-age=50"}).max_age, 5);
}

// cc-parse freshness-max-age-ignore-quoted(-rev): a directive inside another's
// quoted argument is not a directive.
TEST(CacheControlParse, DirectiveInsideQuotedStringIgnored) {
  EXPECT_EQ(resp({"extension=\"max-age=3600\", max-age=1"}).max_age, 1);
  EXPECT_EQ(resp({"max-age=1, extension=\"max-age=3600\""}).max_age, 1);
  EXPECT_EQ(resp({"ext=\"a, no-store, b\""}).no_store, false);
  EXPECT_EQ(resp({"ext=\"a\\\", no-store\", max-age=2"}).no_store, false);   // escaped quote
  EXPECT_EQ(resp({"ext=\"a\\\", no-store\", max-age=2"}).max_age, 2);
}

// cc-parse freshness-max-age-space-{before,after}-equals: no whitespace
// around "=" (section 5.2 grammar); the element is skipped.
TEST(CacheControlParse, SpaceAroundEqualsIsMalformed) {
  EXPECT_FALSE(resp({"max-age =3600"}).max_age);
  EXPECT_FALSE(resp({"max-age= 3600"}).max_age);
  EXPECT_EQ(resp({"max-age =3600, s-maxage=4"}).s_maxage, 4);   // the next element still counts
}

// 4.2.1 encourages treating invalid freshness information as stale: an
// invalid max-age is 0 (cc-parse leading/trailing alpha, single quotes,
// decimals).
TEST(CacheControlParse, InvalidMaxAgeIsZero) {
  EXPECT_EQ(resp({"max-age=003600"}).max_age, 3600);   // leading zeros are digits
  EXPECT_EQ(resp({"max-age='3600'"}).max_age, 0);
  EXPECT_EQ(resp({"max-age=3600.0"}).max_age, 0);
  EXPECT_EQ(resp({"max-age=3600.5"}).max_age, 0);
  EXPECT_EQ(resp({"max-age=a3600"}).max_age, 0);
  EXPECT_EQ(resp({"max-age=3600a"}).max_age, 0);
  EXPECT_EQ(resp({"max-age"}).max_age, 0);
  EXPECT_EQ(resp({"s-maxage=-1"}).s_maxage, 0);
  EXPECT_EQ(req({"max-age=x"}).max_age, 0);
  // ... and occupies the slot: first wins.
  EXPECT_EQ(resp({"max-age=x, max-age=100"}).max_age, 0);
}

// Widening directives with bad values are ignored instead.
TEST(CacheControlParse, InvalidWideningDirectivesIgnored) {
  ResponseCacheControl cc = resp({"stale-while-revalidate=x, stale-if-error=-3"});
  EXPECT_FALSE(cc.stale_while_revalidate);
  EXPECT_FALSE(cc.stale_if_error);
  EXPECT_FALSE(req({"min-fresh=1.5"}).min_fresh);
  EXPECT_FALSE(resp({"public=yes"}).is_public);
  EXPECT_FALSE(resp({"immutable=1"}).immutable);
}

TEST(CacheControlParse, OverflowClamped) {
  EXPECT_EQ(resp({"max-age=99999999999999999999"}).max_age, kDeltaMax);
  EXPECT_EQ(resp({"s-maxage=2147483648"}).s_maxage, kDeltaMax);
}

// A malformed element naming a restrictive directive still applies.
TEST(CacheControlParse, MalformedRestrictiveStillApplies) {
  EXPECT_TRUE(resp({"no-store="}).no_store);
  EXPECT_TRUE(resp({"no-store junk"}).no_store);
  EXPECT_TRUE(resp({"private=\"unterminated"}).is_private);
  EXPECT_TRUE(resp({"no-cache=, max-age=5"}).no_cache);
  EXPECT_EQ(resp({"no-cache=, max-age=5"}).max_age, 5);
  EXPECT_TRUE(resp({"must-revalidate=1"}).must_revalidate);
  EXPECT_TRUE(req({"no-cache =x"}).no_cache);
  EXPECT_FALSE(resp({"max-age=1 junk"}).max_age);   // a widening one does not
}

// Junk before, between and after elements.
TEST(CacheControlParse, JunkSkippedToNextComma) {
  ResponseCacheControl cc = resp({"\"quoted\", max-age=5", "=x, public", "@@, no-transform"});
  EXPECT_EQ(cc.max_age, 5);
  EXPECT_TRUE(cc.is_public);
  EXPECT_TRUE(cc.no_transform);
  EXPECT_EQ(resp({"max-age=5,"}).max_age, 5);
  EXPECT_EQ(resp({",max-age=5"}).max_age, 5);
  EXPECT_EQ(resp({"max-age=5 , public"}).max_age, 5);
  EXPECT_EQ(resp({"unknown-ext, max-age=5"}).max_age, 5);
  EXPECT_EQ(resp({"ext=\"x\\"}).max_age, std::nullopt);   // backslash at the end
}

// 5.2.2.4 / 5.2.2.7: the qualified forms keep their field list.
TEST(CacheControlParse, QualifiedNoCacheAndPrivate) {
  ResponseCacheControl cc = resp({"no-cache=\"Set-Cookie, X-Token\", private=Authorization-Info"});
  EXPECT_TRUE(cc.no_cache);
  EXPECT_EQ(cc.no_cache_fields, "Set-Cookie, X-Token");
  EXPECT_TRUE(cc.is_private);
  EXPECT_EQ(cc.private_fields, "Authorization-Info");
  std::vector<std::string> names;
  for_each_listed_field(cc.no_cache_fields, [&](std::string_view n) { names.emplace_back(n); });
  EXPECT_EQ(names, (std::vector<std::string>{"Set-Cookie", "X-Token"}));
  names.clear();
  for_each_listed_field(" a ,, b,", [&](std::string_view n) { names.emplace_back(n); });
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
}

// An unqualified occurrence anywhere makes the directive unqualified.
TEST(CacheControlParse, UnqualifiedWinsOverQualified) {
  EXPECT_TRUE(resp({"no-cache=\"a\", no-cache"}).no_cache_fields.empty());
  EXPECT_TRUE(resp({"no-cache, no-cache=\"a\""}).no_cache_fields.empty());
  EXPECT_TRUE(resp({"private=\"a\"", "private"}).private_fields.empty());
  EXPECT_EQ(resp({"private=\"a\"", "private=\"b\""}).private_fields, "a");
}

// RFC 8246's example and RFC 5861's.
TEST(CacheControlParse, RfcExamples) {
  ResponseCacheControl cc = resp({"max-age=31536000, immutable"});
  EXPECT_EQ(cc.max_age, 31536000);
  EXPECT_TRUE(cc.immutable);
  cc = resp({"max-age=600, stale-while-revalidate=30"});
  EXPECT_EQ(cc.stale_while_revalidate, 30);
  cc = resp({"max-age=600, stale-if-error=1200"});
  EXPECT_EQ(cc.stale_if_error, 1200);
}

TEST(CacheControlParse, FromFieldsReadsEveryCacheControlLine) {
  std::vector<http::Field> f{{"Cache-Control", "max-age=5"},
                             {"Content-Type", "text/plain; no-store"},
                             {"cache-control", "must-revalidate"},
                             {"CACHE-CONTROL", "max-age=9"}};
  ResponseCacheControl cc = response_cache_control(f);
  EXPECT_EQ(cc.max_age, 5);
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_FALSE(cc.no_store);
  std::vector<http::Field> q{{"Cache-Control", "no-cache"}, {"Cache-Control", "max-stale=3"}};
  RequestCacheControl rc = request_cache_control(q);
  EXPECT_TRUE(rc.no_cache);
  EXPECT_EQ(rc.max_stale_limit, 3);
}

// Field lists are views into the lines: valid as long as they are.
TEST(CacheControlParse, FieldListsViewTheLine) {
  std::string line = "private=\"X-A\"";
  ResponseCacheControl cc = resp({line});
  EXPECT_GE(cc.private_fields.data(), line.data());
  EXPECT_LE(cc.private_fields.data() + cc.private_fields.size(), line.data() + line.size());
}

TEST(CacheControlParse, NoAllocation) {
  std::vector<http::Field> f{
      {"Cache-Control", "max-age=60, s-maxage=30, no-cache=\"Set-Cookie\", ext=\"a,b\""},
      {"Cache-Control", "stale-while-revalidate=5, private, junk junk, max-age =1"}};
  std::vector<http::Field> q{{"Cache-Control", "max-age=0, max-stale, only-if-cached"}};
  size_t before = test_allocations();
  ResponseCacheControl cc = response_cache_control(f);
  RequestCacheControl rc = request_cache_control(q);
  EXPECT_EQ(test_allocations(), before);
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_TRUE(rc.only_if_cached);
}

}  // namespace
}  // namespace gh::cache
