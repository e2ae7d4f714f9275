// libFuzzer target: the RFC 9111 rules of the response cache (src/cache),
// which read fields from both untrusted sides: clients' requests and
// backends' responses.
//
// Input layout: byte 0 = status selector, bytes 1..8 = a time offset; the rest
// split at "\n" into field lines "name:value", request fields before a line
// "--", response fields after it, a line ">" starting the Range/If-Range
// values to try.
//
// Checks (beyond no crash, no UB, no leak):
//  - freshness_lifetime and current_age stay within 0..kDeltaMax;
//  - decide() gives an age equal to current_age and, when it serves, a stored
//    response that is fresh or allowed stale (max-stale / stale-while-revalidate);
//  - a response check_storable accepts has no Set-Cookie, no no-store, no
//    private, and a method of GET;
//  - parse_range: a satisfiable range lies inside the representation;
//  - merge_not_modified keeps the stored Content-Length and never adds a
//    Set-Cookie;
//  - variant_matches accepts the request its secondary key was made from
//    (for a response whose Vary is matchable);
//  - invalidation_keys never returns an empty key and nothing for GET.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_control.h"
#include "cache/freshness.h"
#include "cache/key.h"
#include "cache/range.h"
#include "http/exchange.h"

#include "fuzz_check.h"

using namespace gh;

namespace {

void split_fields(std::string_view text, std::vector<http::Field>& out) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    out.push_back(http::Field{line.substr(0, colon), line.substr(colon + 1)});
  }
}

bool has(std::span<const http::Field> f, std::string_view name) {
  bool found = false;
  http::find_field(f, name, &found);
  return found;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  static constexpr int kStatuses[] = {200, 203, 204, 206, 300, 301, 304, 404, 410, 500, 503, 599, 100, 999};
  const int status = kStatuses[data[0] % (sizeof kStatuses / sizeof kStatuses[0])];
  int64_t offset = 0;
  std::memcpy(&offset, data + 1, 8);
  offset %= (int64_t{1} << 32);
  const std::string_view rest(reinterpret_cast<const char*>(data + 9), size - 9);
  const size_t sep = rest.find("\n--\n");
  const std::string_view req_text = rest.substr(0, sep);
  std::string_view resp_text = sep == std::string_view::npos ? std::string_view() : rest.substr(sep + 4);
  std::string_view range_text;
  if (const size_t gt = resp_text.find("\n>"); gt != std::string_view::npos) {
    range_text = resp_text.substr(gt + 2);
    resp_text = resp_text.substr(0, gt);
  }
  std::vector<http::Field> req, resp;
  split_fields(req_text, req);
  split_fields(resp_text, resp);

  const int64_t t0 = 1'700'000'000;
  const int64_t now = t0 + offset;
  cache::Stored s;
  s.status = status;
  s.fields = resp;
  s.request_time = t0 - 1;
  s.response_time = t0;

  const int64_t lifetime = cache::freshness_lifetime(s);
  FUZZ_CHECK(lifetime >= 0 && lifetime <= cache::kDeltaMax);
  const int64_t age = cache::current_age(s, now);
  FUZZ_CHECK(age >= 0 && age <= cache::kDeltaMax * 3);

  const cache::Decision d = cache::decide(s, req, now);
  FUZZ_CHECK(d.age == age);
  if (d.action == cache::Action::serve && !d.stale) FUZZ_CHECK(d.age < d.lifetime);

  const cache::Storability st = cache::check_storable("GET", req, status, resp, t0);
  if (st == cache::Storability::storable) {
    FUZZ_CHECK(!has(resp, "set-cookie"));
    const cache::ResponseCacheControl cc = cache::response_cache_control(resp);
    FUZZ_CHECK(!cc.is_private);
    FUZZ_CHECK(!cc.no_store || cc.must_understand);
  }
  FUZZ_CHECK(cache::check_storable("POST", req, status, resp, t0) != cache::Storability::storable);
  (void)cache::serve_stale_on_error(s, req, 503, now);
  (void)cache::client_not_modified(req, s);
  (void)cache::not_modified_selects(resp, req);

  const std::vector<cache::OwnedField> merged = cache::merge_not_modified(resp, req);
  FUZZ_CHECK(!has(req, "set-cookie") || !std::any_of(merged.begin(), merged.end(), [&](const auto& f) {
    return http::iequals(f.name, "set-cookie") && !has(resp, "set-cookie");
  }));

  if (has(resp, "content-length")) {
    const auto cl = std::find_if(merged.begin(), merged.end(),
                                 [](const auto& f) { return http::iequals(f.name, "content-length"); });
    FUZZ_CHECK(cl != merged.end() && cl->value == http::find_field(resp, "content-length"));
  }

  if (!cache::vary_unmatchable(resp)) {
    const std::string sk = cache::secondary_key(resp, req);
    FUZZ_CHECK(cache::variant_matches(sk, resp, req));
  }

  const uint64_t rep = static_cast<uint64_t>(offset & 0xffff);
  const cache::ByteRange br = cache::parse_range(range_text, rep);
  if (br.kind == cache::ByteRange::Kind::satisfiable) FUZZ_CHECK(br.first <= br.last && br.last < rep);
  (void)cache::if_range_holds(req, resp);

  const std::string_view target = req.empty() ? std::string_view("/") : req[0].value;
  FUZZ_CHECK(cache::invalidation_keys("GET", "http", "h", target, 200, resp).empty());
  for (const std::string& k : cache::invalidation_keys("POST", "https", "h:443", target, 201, resp))
    FUZZ_CHECK(!k.empty() && k.starts_with("https://h"));
  return 0;
}
