#include "cache/freshness.h"
#include "http/token.h"

#include <algorithm>
#include <optional>

#include "cache/http_date.h"
#include "cache/key.h"

namespace gh::cache {
namespace {

using http::is_ows;

using http::trim_ows;

bool has_field(std::span<const http::Field> fields, std::string_view name) {
  bool found = false;
  http::find_field(fields, name, &found);
  return found;
}

// The first line of `name` as an HTTP-date; nullopt when absent or invalid.
std::optional<int64_t> date_field(std::span<const http::Field> fields, std::string_view name,
                                  int64_t now) {
  bool found = false;
  std::string_view v = http::find_field(fields, name, &found);
  if (!found) return std::nullopt;
  return parse_http_date(v, now);
}

// Date, or the response_time when Date is absent or invalid (RFC 9110
// 6.6.1: a recipient that gets no Date takes the time of receipt).
int64_t date_value(const Stored& s) {
  return date_field(s.fields, "date", s.response_time).value_or(s.response_time);
}

int64_t clamp_delta(int64_t v) { return std::clamp<int64_t>(v, 0, kDeltaMax); }

// An entity-tag (RFC 9110 8.8.3): `[ "W/" ] DQUOTE *etagc DQUOTE`.
struct EntityTag {
  std::string_view opaque;   // with its quotes
  bool weak = false;
};

// Parses one entity-tag at s[i..]; advances i past it.
std::optional<EntityTag> parse_etag_at(std::string_view s, size_t& i) {
  EntityTag t;
  if (s.size() - i >= 2 && s[i] == 'W' && s[i + 1] == '/') {
    t.weak = true;
    i += 2;
  }
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  size_t close = s.find('"', i + 1);
  if (close == std::string_view::npos) return std::nullopt;
  for (size_t k = i + 1; k < close; ++k) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    if (c < 0x21 || c == 0x7f) return std::nullopt;   // etagc: %x21 / %x23-7E / obs-text
  }
  t.opaque = s.substr(i, close + 1 - i);
  i = close + 1;
  return t;
}

// The whole of a field value as one entity-tag.
std::optional<EntityTag> parse_etag(std::string_view v) {
  size_t i = 0;
  std::optional<EntityTag> t = parse_etag_at(v, i);
  if (!t || i != v.size()) return std::nullopt;
  return t;
}

std::optional<EntityTag> etag_field(std::span<const http::Field> fields) {
  bool found = false;
  std::string_view v = http::find_field(fields, "etag", &found);
  if (!found) return std::nullopt;
  return parse_etag(v);
}

// If-None-Match (RFC 9110 13.1.2) against the stored ETag: every line, "*"
// or entity-tags compared weakly. A malformed list matches nothing after the
// point where it breaks.
bool if_none_match_matches(std::span<const http::Field> request_fields,
                           const std::optional<EntityTag>& stored) {
  for (const http::Field& f : request_fields) {
    if (!http::iequals(f.name, "if-none-match")) continue;
    std::string_view v = f.value;
    if (trim_ows(v) == "*") return true;
    size_t i = 0;
    while (i < v.size()) {
      if (is_ows(v[i]) || v[i] == ',') {
        ++i;
        continue;
      }
      std::optional<EntityTag> t = parse_etag_at(v, i);
      if (!t) break;
      if (stored && t->opaque == stored->opaque) return true;
    }
  }
  return false;
}

// Which stored responses' fields a 304 may not replace (sections 3.1, 3.2):
// those that describe the stored bytes (their length, codings, range and
// digests: a digest from a 304 would not match the body sent with it), the
// Vary the variant was keyed by, and cookies.
bool kept_from_update(std::string_view name) {
  static constexpr std::string_view kKept[] = {
      "content-length", "content-encoding", "content-range", "transfer-encoding",
      "vary",           "set-cookie",       "set-cookie2",   "content-md5",
      "digest",         "content-digest",   "repr-digest",
  };
  for (std::string_view k : kKept) {
    if (http::iequals(name, k)) return true;
  }
  return !stored_field(name);
}

bool stale_forbidden(const ResponseCacheControl& cc) {
  return cc.no_cache || cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
}

}  // namespace

bool cacheable_by_default(int status) {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

bool status_understood(int status) {
  if (status >= 200 && status <= 205) return true;
  if ((status >= 300 && status <= 303) || status == 305 || status == 307 || status == 308)
    return true;
  if (status >= 400 && status <= 417) return true;
  switch (status) {
    case 421: case 422: case 426: case 500: case 501: case 502: case 503: case 504: case 505:
      return true;
    default:
      return false;
  }
}

const char* storability_text(Storability s) {
  switch (s) {
    case Storability::storable: return "storable";
    case Storability::method: return "method";
    case Storability::status: return "status";
    case Storability::not_understood: return "must-understand";
    case Storability::request_no_store: return "request-no-store";
    case Storability::no_store: return "no-store";
    case Storability::is_private: return "private";
    case Storability::authorization: return "authorization";
    case Storability::set_cookie: return "set-cookie";
    case Storability::vary_star: return "vary-star";
    case Storability::no_freshness: return "no-freshness";
    case Storability::no_reuse: return "no-reuse";
  }
  return "?";
}

Storability check_storable(std::string_view method, std::span<const http::Field> request_fields,
                           int status, std::span<const http::Field> response_fields,
                           int64_t response_time, const Options& options) {
  if (method != "GET") return Storability::method;
  if (status < 200 || status > 599 || status == 206 || status == 304) return Storability::status;
  const ResponseCacheControl cc = response_cache_control(response_fields);
  bool understood = status_understood(status);
  if (cc.must_understand && !understood) return Storability::not_understood;
  if (request_cache_control(request_fields).no_store) return Storability::request_no_store;
  if (cc.no_store && !cc.must_understand) return Storability::no_store;
  if (cc.is_private) return Storability::is_private;
  if (has_field(request_fields, "authorization") &&
      !(cc.is_public || cc.s_maxage || cc.must_revalidate))
    return Storability::authorization;
  if (has_field(response_fields, "set-cookie") || has_field(response_fields, "set-cookie2"))
    return Storability::set_cookie;
  if (vary_unmatchable(response_fields)) return Storability::vary_star;
  const bool explicit_lifetime =
      cc.s_maxage || cc.max_age || has_field(response_fields, "expires");
  // no-cache with a validator asks to be stored and revalidated at each use
  // (5.2.2.4): an explicit instruction, as good as a lifetime of 0.
  const bool revalidate_each_use =
      cc.no_cache && cc.no_cache_fields.empty() &&
      (has_field(response_fields, "etag") || has_field(response_fields, "last-modified"));
  if (!explicit_lifetime && !revalidate_each_use &&
      !(options.heuristic && (cacheable_by_default(status) || cc.is_public)))
    return Storability::no_freshness;
  const Stored s{status, response_fields, response_time, response_time};
  if (freshness_lifetime(s, cc, options) == 0 && !has_field(response_fields, "etag") &&
      !has_field(response_fields, "last-modified") && !cc.stale_while_revalidate &&
      !cc.stale_if_error)
    return Storability::no_reuse;
  return Storability::storable;
}

int64_t freshness_lifetime(const Stored& s, const ResponseCacheControl& cc,
                           const Options& options) {
  if (cc.s_maxage) return clamp_delta(*cc.s_maxage);
  if (cc.max_age) return clamp_delta(*cc.max_age);
  bool has_expires = false;
  std::string_view expires = http::find_field(s.fields, "expires", &has_expires);
  if (has_expires) {
    std::optional<int64_t> e = parse_http_date(expires, s.response_time);
    if (!e) return 0;   // section 5.3: invalid ("0" included) means already expired
    return clamp_delta(*e - date_value(s));
  }
  if (options.heuristic && (cacheable_by_default(s.status) || cc.is_public)) {
    std::optional<int64_t> lm = date_field(s.fields, "last-modified", s.response_time);
    int64_t date = date_value(s);
    if (lm && *lm <= date) {
      int64_t h = (date - *lm) * std::clamp<int64_t>(options.heuristic_percent, 0, 100) / 100;
      return std::min({h, std::max<int64_t>(options.heuristic_max, 0), kDeltaMax});
    }
  }
  return 0;
}

int64_t freshness_lifetime(const Stored& s, const Options& options) {
  return freshness_lifetime(s, response_cache_control(s.fields), options);
}

int64_t current_age(const Stored& s, int64_t now) {
  int64_t age_value = 0;
  bool has_age = false;
  std::string_view age = http::find_field(s.fields, "age", &has_age);
  if (has_age) {
    std::string_view first = trim_ows(age.substr(0, age.find(',')));
    age_value = parse_delta_seconds(first).value_or(kDeltaMax);
  }
  const int64_t apparent_age = std::max<int64_t>(0, s.response_time - date_value(s));
  const int64_t response_delay = std::max<int64_t>(0, s.response_time - s.request_time);
  const int64_t corrected_age_value = age_value + response_delay;
  const int64_t corrected_initial_age = std::max(apparent_age, corrected_age_value);
  const int64_t resident_time = std::max<int64_t>(0, now - s.response_time);
  return clamp_delta(corrected_initial_age + resident_time);
}

Decision decide(const Stored& s, std::span<const http::Field> request_fields, int64_t now,
                const Options& options) {
  const ResponseCacheControl cc = response_cache_control(s.fields);
  const RequestCacheControl rq = request_cache_control(request_fields);
  Decision d;
  d.lifetime = freshness_lifetime(s, cc, options);
  d.age = current_age(s, now);
  d.stale = d.age >= d.lifetime;
  d.if_none_match = http::find_field(s.fields, "etag");
  d.if_modified_since = http::find_field(s.fields, "last-modified");

  auto go = [&](Action a, std::string_view fwd) {
    d.action = a;
    d.fwd = fwd;
    if (a == Action::revalidate && rq.only_if_cached) {
      d.action = Action::gateway_timeout;
      d.fwd = {};
    }
    if (a == Action::serve) d.fwd = {};
    return d;
  };

  if (cc.no_cache) return go(Action::revalidate, "stale");
  if (rq.no_cache) return go(Action::revalidate, "request");
  if (rq.max_age && d.age > *rq.max_age) return go(Action::revalidate, "request");
  if (!d.stale) {
    if (rq.min_fresh && d.lifetime - d.age < *rq.min_fresh)
      return go(Action::revalidate, "request");
    return go(Action::serve, {});
  }
  if (stale_forbidden(cc)) return go(Action::revalidate, "stale");
  const int64_t staleness = d.age - d.lifetime;
  if (rq.max_stale && (!rq.max_stale_limit || staleness <= *rq.max_stale_limit))
    return go(Action::serve, {});
  if (cc.stale_while_revalidate && staleness <= *cc.stale_while_revalidate && !rq.min_fresh)
    return go(Action::serve_then_revalidate, "stale");
  return go(Action::revalidate, "stale");
}

bool serve_stale_on_error(const Stored& s, std::span<const http::Field> request_fields,
                          int upstream_status, int64_t now, const Options& options) {
  switch (upstream_status) {
    case 0: case 500: case 502: case 503: case 504:
      break;
    default:
      return false;
  }
  const ResponseCacheControl cc = response_cache_control(s.fields);
  const RequestCacheControl rq = request_cache_control(request_fields);
  if (stale_forbidden(cc) || rq.no_cache) return false;
  const int64_t staleness = current_age(s, now) - freshness_lifetime(s, cc, options);
  if (staleness < 0) return true;
  int64_t window = -1;
  if (cc.stale_if_error) window = std::max(window, *cc.stale_if_error);
  if (rq.stale_if_error) window = std::max(window, *rq.stale_if_error);
  if (rq.max_stale) window = std::max(window, rq.max_stale_limit.value_or(kDeltaMax));
  return staleness <= window;
}

bool stored_field(std::string_view name) {
  static constexpr std::string_view kNotStored[] = {
      "connection", "keep-alive",         "proxy-connection",          "te",
      "trailer",    "transfer-encoding",  "upgrade",                   "proxy-authenticate",
      "proxy-authentication-info",        "proxy-authorization",
  };
  for (std::string_view n : kNotStored) {
    if (http::iequals(name, n)) return false;
  }
  return true;
}

bool not_modified_selects(std::span<const http::Field> stored_fields,
                          std::span<const http::Field> not_modified_fields) {
  const std::optional<EntityTag> stored = etag_field(stored_fields);
  bool has_new_etag = false;
  std::string_view new_etag_text = http::find_field(not_modified_fields, "etag", &has_new_etag);
  if (has_new_etag) {
    std::optional<EntityTag> fresh = parse_etag(new_etag_text);
    if (!fresh || !stored || stored->opaque != fresh->opaque) return false;
    return fresh->weak || !stored->weak;   // a strong 304 ETag needs a strong stored one
  }
  bool has_new_lm = false;
  std::string_view new_lm = http::find_field(not_modified_fields, "last-modified", &has_new_lm);
  if (has_new_lm) {
    bool has_lm = false;
    std::string_view lm = http::find_field(stored_fields, "last-modified", &has_lm);
    return has_lm && lm == new_lm;
  }
  return true;
}

std::vector<OwnedField> merge_not_modified(std::span<const http::Field> stored_fields,
                                           std::span<const http::Field> not_modified_fields) {
  auto replaced = [&](std::string_view name) {
    if (kept_from_update(name)) return false;
    for (const http::Field& f : not_modified_fields) {
      if (http::iequals(f.name, name)) return true;
    }
    return false;
  };
  std::vector<OwnedField> out;
  out.reserve(stored_fields.size() + not_modified_fields.size());
  for (const http::Field& f : stored_fields) {
    if (!replaced(f.name)) out.push_back({std::string(f.name), std::string(f.value)});
  }
  for (const http::Field& f : not_modified_fields) {
    if (!kept_from_update(f.name)) out.push_back({std::string(f.name), std::string(f.value)});
  }
  return out;
}

bool client_not_modified(std::span<const http::Field> request_fields, const Stored& s) {
  if (has_field(request_fields, "if-none-match")) {
    return if_none_match_matches(request_fields, etag_field(s.fields));
  }
  int ims_lines = 0;
  std::string_view ims;
  for (const http::Field& f : request_fields) {
    if (http::iequals(f.name, "if-modified-since")) {
      ++ims_lines;
      ims = f.value;
    }
  }
  if (ims_lines != 1) return false;   // none, or more than one member: ignored (13.1.3)
  std::optional<int64_t> since = parse_http_date(ims, s.response_time);
  if (!since) return false;
  std::optional<int64_t> lm = date_field(s.fields, "last-modified", s.response_time);
  const int64_t modified = lm ? *lm : date_value(s);
  return modified <= *since;
}

}  // namespace gh::cache
