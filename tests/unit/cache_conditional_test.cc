// Validation: which stored response a 304 updates (RFC 9111 4.3.4), how its
// fields merge (3.2), and clients' conditional requests answered from the
// cache (4.3.2, RFC 9110 13.1.2 and 13.1.3); cases after the
// http-cache-tests categories "conditional", "conditional-etag",
// "conditional-lm" and "update304".
#include "cache/freshness.h"

#include <gtest/gtest.h>

#include "cache_test_fields.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cache/http_date.h"

namespace gh::cache {
namespace {

constexpr int64_t T = 1700000000;

using test::date;

using test::Msg;

std::vector<std::pair<std::string, std::string>> as_pairs(const std::vector<OwnedField>& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const OwnedField& x : f) out.emplace_back(x.name, x.value);
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// ---- which stored response a 304 selects (4.3.4) ----

TEST(CacheNotModifiedSelects, StrongETag) {
  Msg stored{{"ETag", "\"v1\""}};
  EXPECT_TRUE(not_modified_selects(stored.fields, Msg{{"ETag", "\"v1\""}}.fields));
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"ETag", "\"v2\""}}.fields));
  // A strong 304 validator needs a strong stored one.
  Msg weak_stored{{"ETag", "W/\"v1\""}};
  EXPECT_FALSE(not_modified_selects(weak_stored.fields, Msg{{"ETag", "\"v1\""}}.fields));
  EXPECT_FALSE(not_modified_selects(Msg{}.fields, Msg{{"ETag", "\"v1\""}}.fields));
}

TEST(CacheNotModifiedSelects, WeakETag) {
  Msg strong{{"ETag", "\"v1\""}};
  Msg weak{{"ETag", "W/\"v1\""}};
  EXPECT_TRUE(not_modified_selects(strong.fields, Msg{{"ETag", "W/\"v1\""}}.fields));
  EXPECT_TRUE(not_modified_selects(weak.fields, Msg{{"ETag", "W/\"v1\""}}.fields));
  EXPECT_FALSE(not_modified_selects(weak.fields, Msg{{"ETag", "W/\"v2\""}}.fields));
  // An ETag decides alone: a matching Last-Modified does not rescue a mismatch.
  Msg both{{"ETag", "W/\"v1\""}, {"Last-Modified", date(T)}};
  EXPECT_FALSE(not_modified_selects(both.fields,
                                    Msg{{"ETag", "W/\"v9\""}, {"Last-Modified", date(T)}}.fields));
}

TEST(CacheNotModifiedSelects, LastModified) {
  Msg stored{{"Last-Modified", date(T)}};
  EXPECT_TRUE(not_modified_selects(stored.fields, Msg{{"Last-Modified", date(T)}}.fields));
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"Last-Modified", date(T + 1)}}.fields));
  EXPECT_FALSE(not_modified_selects(Msg{{"ETag", "\"a\""}}.fields,
                                    Msg{{"Last-Modified", date(T)}}.fields));
}

// No validator in the 304: it is about the response we revalidated.
TEST(CacheNotModifiedSelects, NoValidatorSelects) {
  EXPECT_TRUE(not_modified_selects(Msg{{"ETag", "\"a\""}}.fields, Msg{{"Date", date(T)}}.fields));
  EXPECT_TRUE(not_modified_selects(Msg{}.fields, Msg{}.fields));
}

TEST(CacheNotModifiedSelects, MalformedETagDoesNot) {
  Msg stored{{"ETag", "\"v1\""}};
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"ETag", "v1"}}.fields));
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"ETag", "\"v1"}}.fields));
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"ETag", "\"v1\" x"}}.fields));
  EXPECT_FALSE(not_modified_selects(stored.fields, Msg{{"ETag", "\"v 1\""}}.fields));
}

// ---- merging a 304 (3.2, 4.3.4; http-cache-tests "update304") ----

TEST(CacheMerge, ReplacesEveryLineOfEachName) {
  Msg stored{{"Date", "old-date"},
             {"Cache-Control", "max-age=10"},
             {"Content-Type", "text/plain"},
             {"X-Multi", "a"},
             {"X-Multi", "b"},
             {"ETag", "\"v1\""},
             {"X-Kept", "k"}};
  Msg nm{{"date", "new-date"}, {"Cache-Control", "max-age=99"}, {"X-Multi", "c"}, {"X-New", "n"},
         {"ETag", "\"v1\""}};
  EXPECT_EQ(as_pairs(merge_not_modified(stored.fields, nm.fields)),
            (Pairs{{"Content-Type", "text/plain"},
                   {"X-Kept", "k"},
                   {"date", "new-date"},
                   {"Cache-Control", "max-age=99"},
                   {"X-Multi", "c"},
                   {"X-New", "n"},
                   {"ETag", "\"v1\""}}));
}

// The exceptions: the stored bytes' own fields, Vary, Set-Cookie, and fields
// never stored.
TEST(CacheMerge, Exceptions) {
  Msg stored{{"Content-Length", "5"},
             {"Content-Encoding", "gzip"},
             {"Vary", "Accept-Encoding"},
             {"Expires", "x"}};
  Msg nm{{"Content-Length", "0"},
         {"Content-Encoding", "br"},
         {"Content-Range", "bytes 0-1/5"},
         {"Transfer-Encoding", "chunked"},
         {"Vary", "*"},
         {"Set-Cookie", "session=1"},
         {"Connection", "close"},
         {"Keep-Alive", "timeout=5"},
         {"Proxy-Authenticate", "Basic"},
         {"Expires", "y"}};
  EXPECT_EQ(as_pairs(merge_not_modified(stored.fields, nm.fields)),
            (Pairs{{"Content-Length", "5"},
                   {"Content-Encoding", "gzip"},
                   {"Vary", "Accept-Encoding"},
                   {"Expires", "y"}}));
}

// A digest in a 304 is not of the stored body: the stored one stays.
TEST(CacheMerge, DigestsDescribeTheStoredBytes) {
  Msg stored{{"Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A=="}, {"Repr-Digest", "sha-256=:a:"}};
  Msg nm{{"Content-MD5", "N7UdGUp1E+RbVvZSTy1R8g=="},
         {"Digest", "md5=x"},
         {"Content-Digest", "sha-256=:b:"},
         {"Repr-Digest", "sha-256=:c:"},
         {"Cache-Control", "max-age=5"}};
  EXPECT_EQ(as_pairs(merge_not_modified(stored.fields, nm.fields)),
            (Pairs{{"Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A=="},
                   {"Repr-Digest", "sha-256=:a:"},
                   {"Cache-Control", "max-age=5"}}));
}

TEST(CacheMerge, EmptyNotModifiedKeepsEverything) {
  Msg stored{{"A", "1"}, {"B", "2"}};
  EXPECT_EQ(as_pairs(merge_not_modified(stored.fields, {})), (Pairs{{"A", "1"}, {"B", "2"}}));
}

// A merged response is fresh again by the 304's Cache-Control and Date.
TEST(CacheMerge, FreshAfterMerge) {
  Msg stored{{"Date", date(T)}, {"Cache-Control", "max-age=10"}, {"ETag", "\"a\""}};
  std::string d2 = date(T + 100);
  Msg nm{{"Date", d2}, {"Cache-Control", "max-age=60"}, {"ETag", "\"a\""}};
  ASSERT_TRUE(not_modified_selects(stored.fields, nm.fields));
  std::vector<OwnedField> merged = merge_not_modified(stored.fields, nm.fields);
  std::vector<http::Field> view;
  for (const OwnedField& f : merged) view.push_back({f.name, f.value});
  Stored s{200, view, T + 99, T + 100};
  Decision d = decide(s, {}, T + 130);
  EXPECT_EQ(d.action, Action::serve);
  EXPECT_EQ(d.age, 31);   // 1 s response delay + 30 s resident
}

// ---- clients' conditionals answered from the cache (4.3.2) ----

Stored stored_of(const Msg& m) { return Stored{200, m.fields, T, T}; }

// RFC 9110 13.1.2's examples, against a stored "xyzzy".
TEST(CacheClientConditional, IfNoneMatchExamples) {
  Msg s{{"ETag", "\"xyzzy\""}, {"Date", date(T)}};
  EXPECT_TRUE(client_not_modified(Msg{{"If-None-Match", "\"xyzzy\""}}.fields, stored_of(s)));
  EXPECT_TRUE(client_not_modified(Msg{{"If-None-Match", "W/\"xyzzy\""}}.fields, stored_of(s)));
  EXPECT_TRUE(client_not_modified(
      Msg{{"If-None-Match", "\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\""}}.fields, stored_of(s)));
  EXPECT_TRUE(client_not_modified(
      Msg{{"If-None-Match", "W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\""}}.fields, stored_of(s)));
  EXPECT_TRUE(client_not_modified(Msg{{"If-None-Match", "*"}}.fields, stored_of(s)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-None-Match", "\"r2d2xxxx\""}}.fields, stored_of(s)));
}

// RFC 9110 8.8.3.2's table, the weak column (the one If-None-Match uses).
TEST(CacheClientConditional, WeakComparisonTable) {
  auto inm = [](std::string stored_tag, std::string sent) {
    Msg s{{"ETag", stored_tag}};
    Msg r{{"If-None-Match", sent}};
    return client_not_modified(r.fields, Stored{200, s.fields, T, T});
  };
  EXPECT_TRUE(inm("W/\"1\"", "W/\"1\""));
  EXPECT_FALSE(inm("W/\"1\"", "W/\"2\""));
  EXPECT_TRUE(inm("W/\"1\"", "\"1\""));
  EXPECT_TRUE(inm("\"1\"", "\"1\""));
}

TEST(CacheClientConditional, IfNoneMatchListsAndLines) {
  Msg s{{"ETag", "\"b,c\""}};
  EXPECT_TRUE(client_not_modified(Msg{{"If-None-Match", "\"a\", \"b,c\""}}.fields, stored_of(s)));
  EXPECT_TRUE(client_not_modified(
      Msg{{"If-None-Match", "\"a\""}, {"If-None-Match", "\"b,c\""}}.fields, stored_of(s)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-None-Match", "\"b\""}}.fields, stored_of(s)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-None-Match", "junk, \"b,c\""}}.fields, stored_of(s)));
}

// If-None-Match present: If-Modified-Since is not consulted (13.1.3).
TEST(CacheClientConditional, IfNoneMatchBeatsIfModifiedSince) {
  std::string lm = date(T - 100);
  Msg s{{"ETag", "\"a\""}, {"Last-Modified", lm}};
  Msg r{{"If-None-Match", "\"b\""}, {"If-Modified-Since", date(T)}};
  EXPECT_FALSE(client_not_modified(r.fields, stored_of(s)));
  Msg no_etag{{"Last-Modified", lm}};
  EXPECT_FALSE(client_not_modified(r.fields, stored_of(no_etag)));
}

// RFC 9110 13.1.3's example date as If-Modified-Since.
TEST(CacheClientConditional, IfModifiedSince) {
  const char* ims = "Sat, 29 Oct 1994 19:43:31 GMT";
  Msg same{{"Last-Modified", ims}};
  EXPECT_TRUE(client_not_modified(Msg{{"If-Modified-Since", ims}}.fields, stored_of(same)));
  Msg older{{"Last-Modified", "Fri, 28 Oct 1994 19:43:31 GMT"}};
  EXPECT_TRUE(client_not_modified(Msg{{"If-Modified-Since", ims}}.fields, stored_of(older)));
  Msg newer{{"Last-Modified", "Sun, 30 Oct 1994 19:43:31 GMT"}};
  EXPECT_FALSE(client_not_modified(Msg{{"If-Modified-Since", ims}}.fields, stored_of(newer)));
  // rfc850 and asctime forms are dates too.
  EXPECT_TRUE(client_not_modified(
      Msg{{"If-Modified-Since", "Saturday, 29-Oct-94 19:43:31 GMT"}}.fields, stored_of(same)));
  EXPECT_TRUE(client_not_modified(Msg{{"If-Modified-Since", "Sat Oct 29 19:43:31 1994"}}.fields,
                                  stored_of(same)));
}

// 13.1.3: invalid or several values are ignored; without Last-Modified the
// stored Date, then the response_time, stands in (4.3.2).
TEST(CacheClientConditional, IfModifiedSinceEdges) {
  Msg lm{{"Last-Modified", date(T - 100)}};
  EXPECT_FALSE(client_not_modified(Msg{{"If-Modified-Since", "yesterday"}}.fields, stored_of(lm)));
  EXPECT_FALSE(client_not_modified(
      Msg{{"If-Modified-Since", date(T)}, {"If-Modified-Since", date(T)}}.fields, stored_of(lm)));
  Msg date_only{{"Date", date(T - 50)}};
  EXPECT_TRUE(client_not_modified(Msg{{"If-Modified-Since", date(T - 50)}}.fields,
                                  stored_of(date_only)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-Modified-Since", date(T - 51)}}.fields,
                                   stored_of(date_only)));
  Msg nothing{};
  EXPECT_TRUE(client_not_modified(Msg{{"If-Modified-Since", date(T)}}.fields, stored_of(nothing)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-Modified-Since", date(T - 1)}}.fields,
                                   stored_of(nothing)));
}

TEST(CacheClientConditional, NoConditionalIsFull) {
  Msg s{{"ETag", "\"a\""}, {"Last-Modified", date(T)}};
  EXPECT_FALSE(client_not_modified({}, stored_of(s)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-Match", "\"a\""}}.fields, stored_of(s)));
  EXPECT_FALSE(client_not_modified(Msg{{"If-Unmodified-Since", date(T)}}.fields, stored_of(s)));
}

}  // namespace
}  // namespace gh::cache
