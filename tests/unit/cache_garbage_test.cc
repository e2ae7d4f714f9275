// Every parser of the cache layer on mutated and random input: no crash, no
// read outside the input (run under GH_SANITIZE to make that mean
// something), and results within their documented ranges.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cache/cache_control.h"
#include "cache/freshness.h"
#include "cache/http_date.h"
#include "cache/key.h"

namespace gh::cache {
namespace {

// Seeds that reach deep into each grammar; mutations then break them.
const char* const kSeeds[] = {
    "max-age=60, s-maxage=\"30\", no-cache=\"Set-Cookie, X\", private, stale-if-error=5",
    "ext=\"a\\\"b, no-store\", max-age=1 junk, =x, \"q\", max-stale",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "W/\"xyzzy\", \"r2d2xxxx\", *",
    "gzip;q=\"a ,b\", br ,, deflate",
    "https://example.com:443/a/../b?c#d",
    "//example.com/x",
    "../../a/./b",
};

std::string mutate(std::string s, std::mt19937& rng) {
  static const char kBytes[] = " \t,;=\"\\/-:*#?W0123456789aZ\x7f\x80\xff";
  int n = static_cast<int>(rng() % 4) + 1;
  for (int i = 0; i < n; ++i) {
    if (s.empty()) s.push_back('x');
    size_t at = rng() % (s.size() + 1);
    switch (rng() % 3) {
      case 0: s.insert(s.begin() + static_cast<long>(at), kBytes[rng() % (sizeof kBytes - 1)]); break;
      case 1: if (at < s.size()) s.erase(at, 1); break;
      default: s = s.substr(0, at); break;
    }
  }
  return s;
}

TEST(CacheGarbage, ParsersSurviveMutations) {
  std::mt19937 rng(20240611);
  constexpr int64_t now = 1700000000;
  for (int round = 0; round < 10000; ++round) {
    std::string a = mutate(kSeeds[rng() % std::size(kSeeds)], rng);
    std::string b = mutate(kSeeds[rng() % std::size(kSeeds)], rng);
    std::vector<http::Field> resp{{"Cache-Control", a}, {"Date", b}, {"Expires", a},
                                  {"Age", b},           {"ETag", a}, {"Last-Modified", b},
                                  {"Vary", a},          {"Location", b}, {"Content-Location", a}};
    std::vector<http::Field> req{{"Cache-Control", b}, {"If-None-Match", a},
                                 {"If-Modified-Since", b}, {"Accept-Encoding", b}};

    ResponseCacheControl cc = response_cache_control(resp);
    for (const auto& v : {cc.max_age, cc.s_maxage, cc.stale_while_revalidate, cc.stale_if_error}) {
      if (v) {
        ASSERT_TRUE(*v >= 0 && *v <= kDeltaMax) << a;
      }
    }
    for_each_listed_field(cc.no_cache_fields, [](std::string_view n) { ASSERT_FALSE(n.empty()); });
    RequestCacheControl rc = request_cache_control(req);
    if (rc.max_age) {
      ASSERT_LE(*rc.max_age, kDeltaMax);
    }

    if (std::optional<int64_t> t = parse_http_date(a, now)) {
      std::string back;
      append_http_date(back, *t);
      ASSERT_EQ(back.size(), 29u);
    }
    parse_http_date(b, now);

    Stored s{200, resp, now - 1, now};
    int64_t life = freshness_lifetime(s, Options{true, 10, 86400});
    ASSERT_TRUE(life >= 0 && life <= kDeltaMax);
    int64_t age = current_age(s, now + 5);
    ASSERT_TRUE(age >= 0 && age <= kDeltaMax);
    Decision d = decide(s, req, now + 5);
    ASSERT_EQ(d.stale, d.age >= d.lifetime);
    serve_stale_on_error(s, req, 503, now + 5);
    check_storable("GET", req, 200, resp, now);
    client_not_modified(req, s);
    not_modified_selects(resp, req);

    if (!vary_unmatchable(resp)) {
      std::string key = secondary_key(resp, req);
      ASSERT_TRUE(variant_matches(key, resp, req)) << a << " | " << b;
    }
    invalidation_keys("POST", "https", "example.com", "/p/q?r", 200, resp);
  }
}

}  // namespace
}  // namespace gh::cache
