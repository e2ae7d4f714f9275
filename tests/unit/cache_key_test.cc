// Primary and secondary cache keys (RFC 9111 sections 2 and 4.1) and
// invalidation on unsafe methods (4.4); cases after the http-cache-tests
// categories "vary", "vary-parse" and "invalidation".
#include "cache/key.h"

#include <gtest/gtest.h>

#include "cache_test_fields.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

size_t test_allocations();   // alloc_counter.h, in cache_cache_control_test.cc

namespace gh::cache {
namespace {

using test::Msg;

using Keys = std::vector<std::string>;

// ---- primary key ----

TEST(CachePrimaryKey, SchemeAuthorityTarget) {
  EXPECT_EQ(primary_key("https", "example.com", "/a/b?x=1"), "https://example.com/a/b?x=1");
  EXPECT_EQ(primary_key("HTTPS", "Example.COM", "/A"), "https://example.com/A");   // path keeps case
  EXPECT_EQ(primary_key("http", "example.com", "/x?b=1&a=2"), "http://example.com/x?b=1&a=2");
}

// RFC 3986 6.2.3: default and empty ports go.
TEST(CachePrimaryKey, Ports) {
  EXPECT_EQ(primary_key("http", "example.com:80", "/"), "http://example.com/");
  EXPECT_EQ(primary_key("https", "example.com:443", "/"), "https://example.com/");
  EXPECT_EQ(primary_key("http", "example.com:443", "/"), "http://example.com:443/");
  EXPECT_EQ(primary_key("https", "example.com:80", "/"), "https://example.com:80/");
  EXPECT_EQ(primary_key("http", "example.com:8080", "/"), "http://example.com:8080/");
  EXPECT_EQ(primary_key("http", "example.com:", "/"), "http://example.com/");
  EXPECT_EQ(primary_key("https", "[::1]:443", "/"), "https://[::1]/");
  EXPECT_EQ(primary_key("https", "[::1]", "/"), "https://[::1]/");
  EXPECT_EQ(primary_key("https", "[FE80::1]:8443", "/"), "https://[fe80::1]:8443/");
}

TEST(CachePrimaryKey, EmptyAuthorityAndRequestHead) {
  EXPECT_EQ(primary_key("http", "", "/x"), "http:///x");
  http::RequestHead h;
  h.method = "HEAD";
  h.scheme = "https";
  h.authority = "Shop.Example:443";
  h.path = "/a/./b?q";
  h.normalized = "/a/b?q";
  // The target as sent (what the backend gets), not the normalized form:
  // otherwise the answer to "/a/./b" would be served for "/a/b".
  EXPECT_EQ(primary_key(h), "https://shop.example/a/./b?q");
  h.method = "GET";
  EXPECT_EQ(primary_key(h), "https://shop.example/a/./b?q");   // method-independent
  std::string out = "k:";
  append_primary_key(out, "http", "h", "/");
  EXPECT_EQ(out, "k:http://h/");
}

// ---- Vary (4.1; http-cache-tests "vary-parse") ----

TEST(CacheVary, StarNeverMatches) {
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "*"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "*, *"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "*"}, {"Vary", "*"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", ", *"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", ""}, {"Vary", "*"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "*, Foo"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "Foo, *"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"vary", "Foo"}, {"VARY", "*"}}.fields));
}

TEST(CacheVary, MalformedNeverMatches) {
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "Foo Bar"}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "Foo, \"Bar\""}}.fields));
  EXPECT_TRUE(vary_unmatchable(Msg{{"Vary", "Foo;q=1"}}.fields));
  EXPECT_FALSE(vary_unmatchable(Msg{{"Vary", "Accept-Encoding, Accept-Language"}}.fields));
  EXPECT_FALSE(vary_unmatchable(Msg{{"Vary", ""}}.fields));
  EXPECT_FALSE(vary_unmatchable(Msg{{"Vary", " , ,"}}.fields));
  EXPECT_FALSE(vary_unmatchable(Msg{}.fields));
}

// RFC 9110 12.5.5's example Vary.
TEST(CacheSecondaryKey, RfcExample) {
  Msg resp{{"Vary", "accept-encoding, accept-language"}};
  Msg req{{"Accept-Encoding", "gzip, br"}, {"Accept-Language", "en"}};
  EXPECT_EQ(secondary_key(resp.fields, req.fields), "accept-encoding:gzip, br\naccept-language:en");
}

TEST(CacheSecondaryKey, NoVaryIsEmpty) {
  Msg req{{"Accept-Encoding", "gzip"}};
  EXPECT_EQ(secondary_key({}, req.fields), "");
  EXPECT_EQ(secondary_key(Msg{{"Vary", ""}}.fields, req.fields), "");
}

// Absent and empty are different (4.1: absent matches only absent).
TEST(CacheSecondaryKey, AbsentAndEmpty) {
  Msg resp{{"Vary", "X-A, X-B"}};
  Msg req{{"X-B", ""}};
  EXPECT_EQ(secondary_key(resp.fields, req.fields), "x-a!\nx-b:");
}

// 4.1's normalizations: lines combined, whitespace around commas.
TEST(CacheSecondaryKey, Normalized) {
  Msg resp{{"Vary", "Accept-Encoding"}};
  const std::string expect = "accept-encoding:gzip, br";
  EXPECT_EQ(secondary_key(resp.fields, Msg{{"Accept-Encoding", "gzip,br"}}.fields), expect);
  EXPECT_EQ(secondary_key(resp.fields, Msg{{"accept-encoding", "gzip ,  br"}}.fields), expect);
  EXPECT_EQ(secondary_key(resp.fields, Msg{{"Accept-Encoding", "gzip"}, {"Accept-Encoding", "br"}}.fields),
            expect);
  EXPECT_EQ(secondary_key(resp.fields, Msg{{"Accept-Encoding", "gzip,, br,"}}.fields), expect);
  EXPECT_EQ(secondary_key(resp.fields, Msg{{"Accept-Encoding", "br, gzip"}}.fields),
            "accept-encoding:br, gzip");   // order is kept: it may mean something
  // A comma inside a quoted-string does not split.
  Msg q{{"Accept-Encoding", "x;p=\"a ,b\" , gzip"}};
  EXPECT_EQ(secondary_key(resp.fields, q.fields), "accept-encoding:x;p=\"a ,b\", gzip");
}

TEST(CacheSecondaryKey, VaryLinesAndNameCase) {
  Msg resp{{"Vary", "Accept"}, {"VARY", "X-Foo"}};
  Msg req{{"x-foo", "1"}, {"ACCEPT", "text/html"}};
  EXPECT_EQ(secondary_key(resp.fields, req.fields), "accept:text/html\nx-foo:1");
  std::string out = "p|";
  append_secondary_key(out, resp.fields, req.fields);
  EXPECT_EQ(out, "p|accept:text/html\nx-foo:1");
}

// http-cache-tests "vary": match, no match, omitted either side, two and
// three fields, order of the request's fields, case of names.
TEST(CacheVariantMatches, VaryCategories) {
  Msg resp{{"Vary", "Foo"}};
  Msg foo1{{"Foo", "1"}};
  std::string key = secondary_key(resp.fields, foo1.fields);
  EXPECT_TRUE(variant_matches(key, resp.fields, foo1.fields));                      // vary-match
  EXPECT_TRUE(variant_matches(key, resp.fields, Msg{{"FOO", "1"}}.fields));
  EXPECT_TRUE(variant_matches(key, resp.fields, Msg{{"Foo", " 1"}, {"Other", "x"}}.fields));
  EXPECT_FALSE(variant_matches(key, resp.fields, Msg{{"Foo", "2"}}.fields));        // vary-no-match
  EXPECT_FALSE(variant_matches(key, resp.fields, Msg{}.fields));                    // vary-omit
  EXPECT_FALSE(variant_matches(key, resp.fields, Msg{{"Foo", "1, 2"}}.fields));
  EXPECT_FALSE(variant_matches(key, resp.fields, Msg{{"Foo", "1"}, {"Foo", "2"}}.fields));

  std::string absent_key = secondary_key(resp.fields, Msg{}.fields);
  EXPECT_TRUE(variant_matches(absent_key, resp.fields, Msg{{"Bar", "1"}}.fields));
  EXPECT_FALSE(variant_matches(absent_key, resp.fields, foo1.fields));              // vary-omit-stored

  Msg resp3{{"Vary", "Foo, Bar, Baz"}};
  Msg req3{{"Foo", "1"}, {"Bar", "abc"}, {"Baz", "789"}};
  std::string key3 = secondary_key(resp3.fields, req3.fields);
  EXPECT_TRUE(variant_matches(key3, resp3.fields,
                              Msg{{"Baz", "789"}, {"Bar", "abc"}, {"Foo", "1"}}.fields));   // any order
  EXPECT_FALSE(variant_matches(key3, resp3.fields, Msg{{"Foo", "1"}, {"Bar", "abc"}}.fields));
  EXPECT_FALSE(variant_matches(key3, resp3.fields,
                               Msg{{"Foo", "1"}, {"Bar", "abcd"}, {"Baz", "789"}}.fields));
  EXPECT_FALSE(variant_matches(key3, resp3.fields,
                               Msg{{"Foo", "1"}, {"Bar", "ab"}, {"Baz", "789"}}.fields));
}

TEST(CacheVariantMatches, NormalizedValuesMatch) {
  Msg resp{{"Vary", "Accept-Encoding"}};
  std::string key = secondary_key(resp.fields, Msg{{"Accept-Encoding", "gzip, br"}}.fields);
  EXPECT_TRUE(variant_matches(key, resp.fields, Msg{{"Accept-Encoding", "gzip,br"}}.fields));
  EXPECT_TRUE(variant_matches(key, resp.fields,
                              Msg{{"Accept-Encoding", "gzip"}, {"Accept-Encoding", "br"}}.fields));
  EXPECT_FALSE(variant_matches(key, resp.fields, Msg{{"Accept-Encoding", "gzip"}}.fields));
}

TEST(CacheVariantMatches, NoVaryMatchesAnything) {
  EXPECT_TRUE(variant_matches("", {}, Msg{{"Foo", "1"}}.fields));
  EXPECT_FALSE(variant_matches("x", {}, Msg{{"Foo", "1"}}.fields));   // a key the Vary cannot give
}

TEST(CacheVariantMatches, StarNeverMatches) {
  Msg resp{{"Vary", "*"}};
  EXPECT_FALSE(variant_matches("", resp.fields, {}));
}

TEST(CacheVariantMatches, NoAllocation) {
  Msg resp{{"Vary", "Accept-Encoding, Accept-Language, X-Absent"}};
  Msg req{{"Accept-Encoding", "gzip,  deflate, br"}, {"Accept-Language", "en-GB, en;q=0.8"}};
  std::string key = secondary_key(resp.fields, req.fields);
  size_t before = test_allocations();
  bool same = variant_matches(key, resp.fields, req.fields);
  EXPECT_EQ(test_allocations(), before);
  EXPECT_TRUE(same);
}

// ---- invalidation (4.4; http-cache-tests "invalidation") ----

Keys inval(std::string_view method, int status, const Msg& resp,
           std::string_view target = "/dir/page?x=1") {
  return invalidation_keys(method, "https", "example.com", target, status, resp.fields);
}

TEST(CacheInvalidation, UnsafeMethodsInvalidateTheTarget) {
  Msg none{};
  for (std::string_view m : {"POST", "PUT", "DELETE", "PATCH", "M-SEARCH", "get"}) {
    EXPECT_EQ(inval(m, 200, none), Keys{"https://example.com/dir/page?x=1"}) << m;
  }
  for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE"}) {
    EXPECT_TRUE(inval(m, 200, none).empty()) << m;
    EXPECT_TRUE(is_safe_method(m));
  }
  EXPECT_FALSE(is_safe_method("POST"));
}

// Only after a non-error response (invalidate-*-failed: an optimal cache
// keeps the entry).
TEST(CacheInvalidation, OnlyNonErrorStatuses) {
  Msg none{};
  for (int s : {200, 201, 204, 301, 303, 399}) EXPECT_EQ(inval("POST", s, none).size(), 1u) << s;
  for (int s : {100, 400, 404, 409, 500, 503}) EXPECT_TRUE(inval("POST", s, none).empty()) << s;
}

TEST(CacheInvalidation, LocationAndContentLocation) {
  Msg resp{{"Location", "/other"}, {"Content-Location", "https://EXAMPLE.com:443/cl?y"}};
  EXPECT_EQ(inval("POST", 201, resp),
            (Keys{"https://example.com/dir/page?x=1", "https://example.com/other",
                  "https://example.com/cl?y"}));
}

TEST(CacheInvalidation, RelativeReferences) {
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "sibling"}})[1], "https://example.com/dir/sibling");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "../up"}})[1], "https://example.com/up");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "./a/./b//c"}})[1], "https://example.com/dir/a/b/c");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "?y=2"}})[1], "https://example.com/dir/page?y=2");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "//example.com/net"}})[1], "https://example.com/net");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "https://example.com"}})[1], "https://example.com/");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "https://example.com?q"}})[1], "https://example.com/?q");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "/a%7eb#frag"}})[1], "https://example.com/a~b");
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "x"}}, "/")[1], "https://example.com/x");
}

// 4.4: never another origin's URIs.
TEST(CacheInvalidation, OtherOriginsSkipped) {
  for (const char* loc : {"https://other.example/x", "http://example.com/x",
                          "https://example.com:8443/x", "//other.example/x",
                          "https://user@example.com/x", "mailto:a@example.com", "urn:x:y",
                          "https:/x"}) {
    EXPECT_EQ(inval("POST", 200, Msg{{"Location", loc}}).size(), 1u) << loc;
  }
}

TEST(CacheInvalidation, UnreadableOrDuplicateSkipped) {
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "/../../x"}}).size(), 1u);   // above root
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "/a%zz"}}).size(), 1u);
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", ""}}).size(), 1u);
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "#only-fragment"}}).size(), 1u);
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "/dir/page?x=1"}}).size(), 1u);   // the target again
  EXPECT_EQ(inval("POST", 200, Msg{{"Location", "/z"}, {"Content-Location", "/z"}}).size(), 2u);
}

}  // namespace
}  // namespace gh::cache
