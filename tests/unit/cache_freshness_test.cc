// Storing (RFC 9111 section 3), freshness lifetime (4.2.1, 4.2.2), age
// (4.2.3) and the decision for a stored response (4, 4.2.4, 5.2, RFC 5861);
// cases after the http-cache-tests categories "freshness", "age",
// "cc-request", "cc-response", "stale", "status" and "authorization".
#include "cache/freshness.h"

#include <gtest/gtest.h>

#include "cache_test_fields.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cache/http_date.h"

size_t test_allocations();   // alloc_counter.h, in cache_cache_control_test.cc

namespace gh::cache {
namespace cache_freshness_test {

constexpr int64_t T = 1700000000;   // the response's arrival in most cases

using test::date;

using test::Msg;

Stored stored(const Msg& m, int64_t response_time = T, int status = 200) {
  return Stored{status, m.fields, response_time, response_time};
}

Storability check(const Msg& req, int status, const Msg& resp, const Options& o = {}) {
  return check_storable("GET", req.fields, status, resp.fields, T, o);
}

const Msg kNoReq{};

// ---- storable (section 3) ----

TEST(CacheStorable, ExplicitFreshnessStores) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60"}}), Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "s-maxage=60"}}), Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Expires", date(T + 60)}, {"Date", date(T)}}),
            Storability::storable);
  EXPECT_TRUE(storable("GET", kNoReq.fields, 200, Msg{{"Cache-Control", "max-age=1"}}.fields, T));
}

// This cache stores responses to GET only (HEAD is served from them).
TEST(CacheStorable, OnlyGet) {
  Msg resp{{"Cache-Control", "max-age=60"}};
  for (std::string_view m : {"HEAD", "POST", "PUT", "get", "OPTIONS"}) {
    EXPECT_EQ(check_storable(m, kNoReq.fields, 200, resp.fields, T), Storability::method) << m;
  }
}

// Final statuses only; never 206 nor 304.
TEST(CacheStorable, Statuses) {
  Msg resp{{"Cache-Control", "max-age=60"}};
  for (int s : {100, 101, 103, 199, 206, 304, 600, 0, -1}) {
    EXPECT_EQ(check(kNoReq, s, resp), Storability::status) << s;
  }
  // Any final status with explicit freshness (http-cache-tests "status").
  for (int s : {200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 500, 502, 503, 599}) {
    EXPECT_EQ(check(kNoReq, s, resp), Storability::storable) << s;
  }
}

// RFC 9110 15.1's heuristically cacheable statuses.
TEST(CacheStorable, CacheableByDefaultList) {
  for (int s : {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}) {
    EXPECT_TRUE(cacheable_by_default(s)) << s;
  }
  for (int s : {201, 202, 205, 302, 303, 304, 307, 400, 403, 500, 502, 503, 504}) {
    EXPECT_FALSE(cacheable_by_default(s)) << s;
  }
}

// Without s-maxage, max-age or Expires: stored only with heuristic
// freshness on (off by default, per the contract).
TEST(CacheStorable, NoExplicitFreshness) {
  Msg resp{{"Date", date(T)}, {"Last-Modified", date(T - 10000)}};
  EXPECT_EQ(check(kNoReq, 200, resp), Storability::no_freshness);
  Options h;
  h.heuristic = true;
  EXPECT_EQ(check(kNoReq, 200, resp, h), Storability::storable);
  EXPECT_EQ(check(kNoReq, 404, resp, h), Storability::storable);
  EXPECT_EQ(check(kNoReq, 302, resp, h), Storability::no_freshness);   // not heuristically cacheable
  Msg pub{{"Date", date(T)}, {"Last-Modified", date(T - 10000)}, {"Cache-Control", "public"}};
  EXPECT_EQ(check(kNoReq, 302, pub, h), Storability::storable);        // public allows it
  EXPECT_EQ(check(kNoReq, 200, pub), Storability::no_freshness);       // public alone is no lifetime
  // no-cache with a validator: stored, to be revalidated at each use.
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "no-cache"}, {"ETag", "\"a\""}}),
            Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "no-cache"}, {"Last-Modified", date(T - 10)}}),
            Storability::storable);
  // ... not without one, nor with the qualified form (it is about fields).
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "no-cache"}}), Storability::no_freshness);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "no-cache=\"X-A\""}, {"ETag", "\"a\""}}),
            Storability::no_freshness);
}

TEST(CacheStorable, NoStore) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60, no-store"}}),
            Storability::no_store);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60"}, {"Cache-Control", "no-store"}}),
            Storability::no_store);
  // 5.2.1.5: a request's no-store forbids storing the response to it.
  EXPECT_EQ(check(Msg{{"Cache-Control", "no-store"}}, 200, Msg{{"Cache-Control", "max-age=60"}}),
            Storability::request_no_store);
}

// 5.2.2.3: must-understand with an understood status overrides no-store.
TEST(CacheStorable, MustUnderstand) {
  Msg resp{{"Cache-Control", "max-age=60, no-store, must-understand"}};
  EXPECT_EQ(check(kNoReq, 200, resp), Storability::storable);
  EXPECT_EQ(check(kNoReq, 404, resp), Storability::storable);
  EXPECT_EQ(check(kNoReq, 299, resp), Storability::not_understood);
  EXPECT_EQ(check(kNoReq, 418, resp), Storability::not_understood);
  Msg plain{{"Cache-Control", "max-age=60, must-understand"}};
  EXPECT_EQ(check(kNoReq, 299, plain), Storability::not_understood);
  EXPECT_TRUE(status_understood(200));
  EXPECT_TRUE(status_understood(308));
  EXPECT_FALSE(status_understood(206));
  EXPECT_FALSE(status_understood(304));
  EXPECT_FALSE(status_understood(299));
}

// A qualified private is treated as unqualified.
TEST(CacheStorable, Private) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60, private"}}),
            Storability::is_private);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60, private=\"X-User\""}}),
            Storability::is_private);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "PRIVATE, s-maxage=60, public"}}),
            Storability::is_private);
}

// Section 3.5 (http-cache-tests "authorization").
TEST(CacheStorable, Authorization) {
  Msg req{{"Authorization", "Basic YTpi"}};
  EXPECT_EQ(check(req, 200, Msg{{"Cache-Control", "max-age=60"}}), Storability::authorization);
  EXPECT_EQ(check(req, 200, Msg{{"Expires", date(T + 60)}}), Storability::authorization);
  EXPECT_EQ(check(req, 200, Msg{{"Cache-Control", "max-age=60, public"}}), Storability::storable);
  EXPECT_EQ(check(req, 200, Msg{{"Cache-Control", "s-maxage=60"}}), Storability::storable);
  EXPECT_EQ(check(req, 200, Msg{{"Cache-Control", "max-age=60, must-revalidate"}}),
            Storability::storable);
  EXPECT_EQ(check(Msg{{"authorization", "Bearer x"}}, 200, Msg{{"Cache-Control", "max-age=6"}}),
            Storability::authorization);
}

// The contract's rule: never a response with Set-Cookie.
TEST(CacheStorable, SetCookie) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60, public"}, {"Set-Cookie", "a=b"}}),
            Storability::set_cookie);
  EXPECT_EQ(check(kNoReq, 200,
                  Msg{{"Cache-Control", "s-maxage=60, no-cache=\"Set-Cookie\""}, {"set-cookie", "a"}}),
            Storability::set_cookie);
}

TEST(CacheStorable, VaryStar) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60"}, {"Vary", "*"}}),
            Storability::vary_star);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60"}, {"Vary", "Accept, *"}}),
            Storability::vary_star);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Encoding"}}),
            Storability::storable);
}

// Stale on arrival with nothing to revalidate or fall back on: not stored.
TEST(CacheStorable, NeverReusable) {
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=0"}}), Storability::no_reuse);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Expires", "0"}}), Storability::no_reuse);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Expires", date(T - 5)}, {"Date", date(T)}}),
            Storability::no_reuse);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=0"}, {"ETag", "\"v1\""}}),
            Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Expires", "0"}, {"Last-Modified", date(T - 9)}}),
            Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=0, stale-if-error=60"}}),
            Storability::storable);
  EXPECT_EQ(check(kNoReq, 200, Msg{{"Cache-Control", "max-age=0, stale-while-revalidate=60"}}),
            Storability::storable);
}

TEST(CacheStorable, Texts) {
  EXPECT_STREQ(storability_text(Storability::storable), "storable");
  EXPECT_STREQ(storability_text(Storability::no_store), "no-store");
  EXPECT_STREQ(storability_text(Storability::set_cookie), "set-cookie");
  EXPECT_STREQ(storability_text(Storability::is_private), "private");
  EXPECT_STREQ(storability_text(Storability::no_freshness), "no-freshness");
  EXPECT_STREQ(storability_text(Storability::request_no_store), "request-no-store");
}

// ---- freshness lifetime (4.2.1, 4.2.2) ----

TEST(CacheFreshness, SharedMaxAgeFirst) {
  Msg m{{"Cache-Control", "max-age=100, s-maxage=10"}, {"Expires", date(T + 1000)}, {"Date", date(T)}};
  EXPECT_EQ(freshness_lifetime(stored(m)), 10);
  Msg m2{{"Cache-Control", "max-age=100"}, {"Expires", date(T + 1000)}, {"Date", date(T)}};
  EXPECT_EQ(freshness_lifetime(stored(m2)), 100);
}

// RFC 9111 5.3's Expires example, against a Date an hour earlier.
TEST(CacheFreshness, ExpiresMinusDate) {
  Msg m{{"Expires", "Thu, 01 Dec 1994 16:00:00 GMT"}, {"Date", "Thu, 01 Dec 1994 15:00:00 GMT"}};
  EXPECT_EQ(freshness_lifetime(stored(m, 786297600 + 999999)), 3600);
}

// RFC 9110 6.6.1: no Date, the response_time stands in.
TEST(CacheFreshness, ExpiresWithoutDateUsesResponseTime) {
  Msg m{{"Expires", date(T + 300)}};
  EXPECT_EQ(freshness_lifetime(stored(m, T)), 300);
  Msg bad_date{{"Expires", date(T + 300)}, {"Date", "yesterday"}};
  EXPECT_EQ(freshness_lifetime(stored(bad_date, T)), 300);
}

// 5.3: invalid Expires, "0" in particular, is in the past.
TEST(CacheFreshness, InvalidExpiresIsStale) {
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", "0"}})), 0);
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", "-1"}})), 0);
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", "Thu, 18 Aug 2050 02:01:18 UTC"}})), 0);
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", date(T - 100)}, {"Date", date(T)}})), 0);
  // max-age overrides even an invalid Expires.
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", "0"}, {"Cache-Control", "max-age=5"}})), 5);
}

// 4.2.1: the first of two Expires lines.
TEST(CacheFreshness, FirstExpiresLine) {
  Msg m{{"Date", date(T)}, {"Expires", date(T + 50)}, {"Expires", date(T + 5000)}};
  EXPECT_EQ(freshness_lifetime(stored(m)), 50);
  Msg bad_first{{"Date", date(T)}, {"Expires", "0"}, {"Expires", date(T + 5000)}};
  EXPECT_EQ(freshness_lifetime(stored(bad_first)), 0);
}

TEST(CacheFreshness, ExplicitLifetimeClamped) {
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Cache-Control", "max-age=99999999999"}})), kDeltaMax);
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Expires", "Fri, 31 Dec 9999 23:59:59 GMT"}})), kDeltaMax);
}

TEST(CacheFreshness, InvalidMaxAgeIsStale) {
  EXPECT_EQ(freshness_lifetime(stored(Msg{{"Cache-Control", "max-age=3600a"}})), 0);
  Msg m{{"Cache-Control", "max-age=\"3600\""}};
  EXPECT_EQ(freshness_lifetime(stored(m)), 3600);
}

// 4.2.2: 10% of Date - Last-Modified, capped; only when enabled.
TEST(CacheFreshness, Heuristic) {
  Msg m{{"Date", date(T)}, {"Last-Modified", date(T - 100000)}};
  EXPECT_EQ(freshness_lifetime(stored(m)), 0);
  Options h;
  h.heuristic = true;
  EXPECT_EQ(freshness_lifetime(stored(m), h), 10000);
  h.heuristic_max = 3600;
  EXPECT_EQ(freshness_lifetime(stored(m), h), 3600);
  h.heuristic_max = 86400;
  h.heuristic_percent = 20;
  EXPECT_EQ(freshness_lifetime(stored(m), h), 20000);
  h.heuristic_percent = 10;
  EXPECT_EQ(freshness_lifetime(stored(m, T, 302), h), 0);   // not heuristically cacheable
  EXPECT_EQ(freshness_lifetime(stored(m, T, 404), h), 10000);
  Msg future{{"Date", date(T)}, {"Last-Modified", date(T + 100)}};
  EXPECT_EQ(freshness_lifetime(stored(future), h), 0);
  Msg no_lm{{"Date", date(T)}};
  EXPECT_EQ(freshness_lifetime(stored(no_lm), h), 0);
  Msg with_max_age{{"Date", date(T)}, {"Last-Modified", date(T - 100000)}, {"Cache-Control", "max-age=7"}};
  EXPECT_EQ(freshness_lifetime(stored(with_max_age), h), 7);   // never over explicit freshness
  // Without Date: from the response_time.
  Msg lm_only{{"Last-Modified", date(T - 1000)}};
  EXPECT_EQ(freshness_lifetime(stored(lm_only, T), h), 100);
}

// ---- age (4.2.3; http-cache-tests "age" and "age-parse") ----

TEST(CacheAge, ResidentTimeOnly) {
  Msg m{{"Date", date(T)}};
  EXPECT_EQ(current_age(stored(m), T), 0);
  EXPECT_EQ(current_age(stored(m), T + 10), 10);
  Msg no_date{};
  EXPECT_EQ(current_age(stored(no_date), T + 10), 10);
}

TEST(CacheAge, AgeAndResponseDelay) {
  Msg m{{"Date", date(T)}, {"Age", "100"}};
  Stored s{200, m.fields, T - 2, T};
  EXPECT_EQ(current_age(s, T), 102);   // age_value + response_delay
  EXPECT_EQ(current_age(s, T + 8), 110);
}

TEST(CacheAge, ApparentAgeFromDate) {
  Msg m{{"Date", date(T - 50)}, {"Age", "10"}};
  EXPECT_EQ(current_age(stored(m), T), 50);
  Msg future{{"Date", date(T + 50)}};
  EXPECT_EQ(current_age(stored(future), T), 0);
}

// freshness-max-age-age: max-age=3600 with Age 7200 is stale.
TEST(CacheAge, AgeMakesStale) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=3600"}, {"Age", "7200"}};
  EXPECT_GE(current_age(stored(m), T), freshness_lifetime(stored(m)));
  EXPECT_EQ(decide(stored(m), {}, T).action, Action::revalidate);
}

// age-parse: an invalid Age is taken as the maximum (stale); the first
// element of the first line counts.
TEST(CacheAge, AgeParse) {
  auto age = [](std::initializer_list<std::string> values) {
    std::vector<std::pair<std::string, std::string>> owned;
    for (const std::string& v : values) owned.emplace_back("Age", v);
    std::vector<http::Field> f{{"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}};   // T
    for (auto& [n, v] : owned) f.push_back({n, v});
    return current_age(Stored{200, f, T, T}, T);
  };
  EXPECT_EQ(age({"abc"}), kDeltaMax);
  EXPECT_EQ(age({"-7200"}), kDeltaMax);
  EXPECT_EQ(age({"7200.0"}), kDeltaMax);
  EXPECT_EQ(age({"7200,0"}), 7200);
  EXPECT_EQ(age({"0,7200"}), 0);
  EXPECT_EQ(age({"7200", "0"}), 7200);
  EXPECT_EQ(age({"0", "7200"}), 0);
  EXPECT_EQ(age({"0, 0"}), 0);
  EXPECT_EQ(age({"7200, 7200"}), 7200);
  EXPECT_EQ(age({" 5 "}), 5);
  EXPECT_EQ(age({"99999999999999"}), kDeltaMax);
}

// Clock steps never give negative ages; results clamp at 2^31.
TEST(CacheAge, ClockStepsAndClamp) {
  Msg m{{"Date", date(T)}};
  Stored s{200, m.fields, T + 5, T};   // request "after" response
  EXPECT_EQ(current_age(s, T - 100), 0);
  Msg old{{"Date", date(T)}, {"Age", "2147483648"}};
  EXPECT_EQ(current_age(stored(old), T + 1000), kDeltaMax);
}

// ---- decide (4, 4.2.4, 5.2) ----

TEST(CacheDecide, FreshIsServed) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=100"}, {"ETag", "\"x\""}};
  Decision d = decide(stored(m), {}, T + 10);
  EXPECT_EQ(d.action, Action::serve);
  EXPECT_FALSE(d.stale);
  EXPECT_EQ(d.age, 10);
  EXPECT_EQ(d.lifetime, 100);
  EXPECT_TRUE(d.fwd.empty());
}

// Section 4.2: fresh means lifetime > age; equal is stale.
TEST(CacheDecide, BoundaryIsStale) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=100"}};
  EXPECT_EQ(decide(stored(m), {}, T + 99).action, Action::serve);
  Decision d = decide(stored(m), {}, T + 100);
  EXPECT_TRUE(d.stale);
  EXPECT_EQ(d.action, Action::revalidate);
  EXPECT_EQ(d.fwd, "stale");
}

// 4.3.1: the validators to send.
TEST(CacheDecide, StaleRevalidatesWithValidators) {
  std::string lm = date(T - 1000);
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=10"}, {"ETag", "W/\"v1\""}, {"Last-Modified", lm}};
  Decision d = decide(stored(m), {}, T + 20);
  EXPECT_EQ(d.action, Action::revalidate);
  EXPECT_EQ(d.if_none_match, "W/\"v1\"");
  EXPECT_EQ(d.if_modified_since, lm);
  Msg none{{"Date", date(T)}, {"Cache-Control", "max-age=10"}};
  d = decide(stored(none), {}, T + 20);
  EXPECT_EQ(d.action, Action::revalidate);
  EXPECT_TRUE(d.if_none_match.empty());
  EXPECT_TRUE(d.if_modified_since.empty());
}

// 5.2.2.4: no-cache, qualified or not, always revalidates.
TEST(CacheDecide, ResponseNoCache) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=100, no-cache"}, {"ETag", "\"a\""}};
  Decision d = decide(stored(m), {}, T);
  EXPECT_EQ(d.action, Action::revalidate);
  EXPECT_EQ(d.fwd, "stale");
  EXPECT_EQ(d.if_none_match, "\"a\"");
  Msg q{{"Date", date(T)}, {"Cache-Control", "max-age=100, no-cache=\"X-A\""}};
  EXPECT_EQ(decide(stored(q), {}, T).action, Action::revalidate);
}

// cc-request: ccreq-no-cache(-etag, -lm).
TEST(CacheDecide, RequestNoCache) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=3600"}, {"ETag", "\"abc\""}};
  Msg req{{"Cache-Control", "no-cache"}};
  Decision d = decide(stored(m), req.fields, T + 1);
  EXPECT_EQ(d.action, Action::revalidate);
  EXPECT_EQ(d.fwd, "request");
  EXPECT_EQ(d.if_none_match, "\"abc\"");
  // Pragma is not read (section 5.4).
  Msg pragma{{"Pragma", "no-cache"}};
  EXPECT_EQ(decide(stored(m), pragma.fields, T + 1).action, Action::serve);
}

// cc-request: ccreq-ma0, ccreq-ma1, ccreq-magreaterage.
TEST(CacheDecide, RequestMaxAge) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=100000"}};
  Msg ma0{{"Cache-Control", "max-age=0"}};
  EXPECT_EQ(decide(stored(m), ma0.fields, T + 3).action, Action::revalidate);
  EXPECT_EQ(decide(stored(m), ma0.fields, T + 3).fwd, "request");
  EXPECT_EQ(decide(stored(m), ma0.fields, T).action, Action::serve);   // age 0 <= 0
  Msg ma1{{"Cache-Control", "max-age=1"}};
  EXPECT_EQ(decide(stored(m), ma1.fields, T + 3).action, Action::revalidate);
  Msg aged{{"Date", date(T)}, {"Cache-Control", "max-age=3600"}, {"Age", "1800"}};
  Msg ma600{{"Cache-Control", "max-age=600"}};
  EXPECT_EQ(decide(stored(aged), ma600.fields, T).action, Action::revalidate);
  Msg ma2000{{"Cache-Control", "max-age=2000"}};
  EXPECT_EQ(decide(stored(aged), ma2000.fields, T).action, Action::serve);
}

// cc-request: ccreq-min-fresh(-age).
TEST(CacheDecide, RequestMinFresh) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=1500"}};
  Msg mf2000{{"Cache-Control", "min-fresh=2000"}};
  EXPECT_EQ(decide(stored(m), mf2000.fields, T).action, Action::revalidate);
  Msg aged{{"Date", date(T)}, {"Cache-Control", "max-age=1500"}, {"Age", "1000"}};
  Msg mf1000{{"Cache-Control", "min-fresh=1000"}};
  EXPECT_EQ(decide(stored(aged), mf1000.fields, T).action, Action::revalidate);
  Msg mf400{{"Cache-Control", "min-fresh=400"}};
  EXPECT_EQ(decide(stored(aged), mf400.fields, T).action, Action::serve);
  Msg mf500{{"Cache-Control", "min-fresh=500"}};
  EXPECT_EQ(decide(stored(aged), mf500.fields, T).action, Action::serve);   // 500 left, 500 asked
}

// cc-request: ccreq-max-stale(-age).
TEST(CacheDecide, RequestMaxStale) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=1"}};
  Msg ms1000{{"Cache-Control", "max-stale=1000"}};
  Decision d = decide(stored(m), ms1000.fields, T + 3);
  EXPECT_EQ(d.action, Action::serve);
  EXPECT_TRUE(d.stale);
  EXPECT_TRUE(d.fwd.empty());
  Msg aged{{"Date", date(T)}, {"Cache-Control", "max-age=1500"}, {"Age", "2000"}};
  EXPECT_EQ(decide(stored(aged), ms1000.fields, T).action, Action::serve);   // 500 stale
  Msg ms100{{"Cache-Control", "max-stale=100"}};
  EXPECT_EQ(decide(stored(aged), ms100.fields, T).action, Action::revalidate);
  Msg any{{"Cache-Control", "max-stale"}};
  EXPECT_EQ(decide(stored(aged), any.fields, T + 1000000).action, Action::serve);
}

// 5.2.2.2, 5.2.2.8, 5.2.2.10: no stale serving, even under max-stale
// (http-cache-tests "stale-close-*").
TEST(CacheDecide, RevalidateDirectivesForbidStale) {
  Msg req{{"Cache-Control", "max-stale"}};
  for (const char* cc : {"max-age=2, must-revalidate", "max-age=2, proxy-revalidate",
                         "max-age=2, s-maxage=2", "max-age=2, no-cache",
                         "max-age=2, must-revalidate, stale-while-revalidate=60"}) {
    Msg m{{"Date", date(T)}, {"Cache-Control", cc}};
    Decision d = decide(stored(m), req.fields, T + 5);
    EXPECT_EQ(d.action, Action::revalidate) << cc;
    EXPECT_EQ(d.fwd, "stale") << cc;
  }
  // Fresh, must-revalidate changes nothing.
  Msg fresh{{"Date", date(T)}, {"Cache-Control", "max-age=60, must-revalidate"}};
  EXPECT_EQ(decide(stored(fresh), {}, T + 5).action, Action::serve);
}

// RFC 5861 section 3's example: max-age=600, stale-while-revalidate=30.
TEST(CacheDecide, StaleWhileRevalidate) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=600, stale-while-revalidate=30"},
        {"ETag", "\"e\""}};
  EXPECT_EQ(decide(stored(m), {}, T + 599).action, Action::serve);
  Decision d = decide(stored(m), {}, T + 610);
  EXPECT_EQ(d.action, Action::serve_then_revalidate);
  EXPECT_TRUE(d.stale);
  EXPECT_EQ(d.fwd, "stale");
  EXPECT_EQ(d.if_none_match, "\"e\"");
  EXPECT_EQ(decide(stored(m), {}, T + 630).action, Action::serve_then_revalidate);
  EXPECT_EQ(decide(stored(m), {}, T + 631).action, Action::revalidate);
  // A client wanting fresh, or no-cache, or a young age, gets a revalidation.
  Msg mf{{"Cache-Control", "min-fresh=1"}};
  EXPECT_EQ(decide(stored(m), mf.fields, T + 610).action, Action::revalidate);
  Msg nc{{"Cache-Control", "no-cache"}};
  EXPECT_EQ(decide(stored(m), nc.fields, T + 610).action, Action::revalidate);
  Msg ma{{"Cache-Control", "max-age=605"}};
  EXPECT_EQ(decide(stored(m), ma.fields, T + 610).action, Action::revalidate);
}

// 5.2.1.7: only-if-cached turns a trip upstream into 504.
TEST(CacheDecide, OnlyIfCached) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=10"}};
  Msg oic{{"Cache-Control", "only-if-cached"}};
  EXPECT_EQ(decide(stored(m), oic.fields, T + 5).action, Action::serve);
  Decision d = decide(stored(m), oic.fields, T + 50);
  EXPECT_EQ(d.action, Action::gateway_timeout);
  EXPECT_TRUE(d.fwd.empty());
  Msg oic_ms{{"Cache-Control", "only-if-cached, max-stale"}};
  EXPECT_EQ(decide(stored(m), oic_ms.fields, T + 50).action, Action::serve);
}

// Expires-driven freshness (http-cache-tests "expires-freshness").
TEST(CacheDecide, ExpiresFreshness) {
  Msg future{{"Date", date(T)}, {"Expires", date(T + 100)}};
  EXPECT_EQ(decide(stored(future), {}, T + 50).action, Action::serve);
  EXPECT_EQ(decide(stored(future), {}, T + 100).action, Action::revalidate);
  Msg past{{"Date", date(T)}, {"Expires", date(T - 100)}};
  EXPECT_EQ(decide(stored(past), {}, T).action, Action::revalidate);
  // Expires relative to Date, not to our clock: a skewed Date does not
  // shorten or lengthen the lifetime.
  Msg skew{{"Date", date(T - 3600)}, {"Expires", date(T - 3600 + 100)}};
  Stored s = stored(skew);
  EXPECT_EQ(freshness_lifetime(s), 100);
  EXPECT_EQ(decide(s, {}, T).action, Action::revalidate);   // but apparent age is 3600
}

// Storing and deciding run for every response and request on a cached
// route: no allocation.
TEST(CacheDecide, NoAllocation) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=60, stale-while-revalidate=5"},
        {"Expires", date(T + 9)}, {"ETag", "\"e\""}, {"Vary", "Accept-Encoding"}, {"Age", "3"}};
  Msg req{{"Cache-Control", "max-stale=10, min-fresh=1"}, {"Authorization", "x"}};
  size_t before = test_allocations();
  Decision d = decide(stored(m), req.fields, T + 30);
  Storability st = check_storable("GET", req.fields, 200, m.fields, T);
  bool on_error = serve_stale_on_error(stored(m), req.fields, 503, T + 90);
  EXPECT_EQ(test_allocations(), before);
  EXPECT_EQ(d.action, Action::serve);
  EXPECT_EQ(st, Storability::authorization);
  EXPECT_FALSE(on_error);
}

// ---- stale-if-error (RFC 5861 section 4, RFC 9111 4.2.4) ----

TEST(CacheStaleOnError, ResponseWindow) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=600, stale-if-error=1200"}};
  EXPECT_TRUE(serve_stale_on_error(stored(m), {}, 500, T + 1000, {}));
  EXPECT_TRUE(serve_stale_on_error(stored(m), {}, 0, T + 1800, {}));
  EXPECT_FALSE(serve_stale_on_error(stored(m), {}, 503, T + 1801, {}));
  for (int s : {502, 503, 504}) EXPECT_TRUE(serve_stale_on_error(stored(m), {}, s, T + 700, {}));
  for (int s : {200, 404, 501, 400}) EXPECT_FALSE(serve_stale_on_error(stored(m), {}, s, T + 700, {}));
}

TEST(CacheStaleOnError, NoWindowNoStale) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=10"}};
  EXPECT_FALSE(serve_stale_on_error(stored(m), {}, 503, T + 20, {}));
  EXPECT_TRUE(serve_stale_on_error(stored(m), {}, 503, T + 5, {}));   // still fresh
}

TEST(CacheStaleOnError, RequestWindows) {
  Msg m{{"Date", date(T)}, {"Cache-Control", "max-age=10"}};
  Msg sie{{"Cache-Control", "stale-if-error=100"}};
  EXPECT_TRUE(serve_stale_on_error(stored(m), sie.fields, 502, T + 110, {}));
  EXPECT_FALSE(serve_stale_on_error(stored(m), sie.fields, 502, T + 111, {}));
  Msg ms{{"Cache-Control", "max-stale=50"}};
  EXPECT_TRUE(serve_stale_on_error(stored(m), ms.fields, 0, T + 60, {}));
  EXPECT_FALSE(serve_stale_on_error(stored(m), ms.fields, 0, T + 61, {}));
  Msg nc{{"Cache-Control", "no-cache, stale-if-error=100"}};
  EXPECT_FALSE(serve_stale_on_error(stored(m), nc.fields, 0, T + 5, {}));
}

// http-cache-tests "stale-close-*": the revalidation directives forbid it,
// with a disconnect too (5.2.2.2: "MUST generate an error response").
TEST(CacheStaleOnError, ForbiddenByRevalidationDirectives) {
  for (const char* cc : {"max-age=2, must-revalidate, stale-if-error=60",
                         "max-age=2, proxy-revalidate, stale-if-error=60",
                         "max-age=2, no-cache, stale-if-error=60",
                         "max-age=2, s-maxage=2, stale-if-error=60"}) {
    Msg m{{"Date", date(T)}, {"Cache-Control", cc}};
    EXPECT_FALSE(serve_stale_on_error(stored(m), {}, 0, T + 10, {})) << cc;
  }
}

// ---- fields kept in the store (3.1) ----

TEST(CacheStoredField, HopByHopAndProxyFieldsNotStored) {
  for (const char* n : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                        "Transfer-Encoding", "Upgrade", "Proxy-Authenticate",
                        "Proxy-Authentication-Info", "proxy-authorization"}) {
    EXPECT_FALSE(stored_field(n)) << n;
  }
  for (const char* n : {"Content-Type", "ETag", "Cache-Control", "X-Anything", "Vary"}) {
    EXPECT_TRUE(stored_field(n)) << n;
  }
}

}  // namespace cache_freshness_test
}  // namespace gh::cache
