#include "cache/cache_control.h"

#include "http/token.h"

namespace gh::cache {
namespace {

using http::is_ows;
using http::is_tchar;

// One directive as it appeared: name, and its argument without quotes.
struct Directive {
  std::string_view name;
  std::string_view arg;
  bool has_arg = false;
  bool malformed = false;   // `name` parsed but the element did not; arg is empty
};

// Index just past the comma ending the element that contains position i, or
// line.size(): commas inside quoted-strings do not end it.
size_t next_element(std::string_view line, size_t i) {
  const size_t end = http::list_element_end(line, i);
  return end < line.size() ? end + 1 : line.size();
}

// Calls f(Directive) for each element of one line; empty elements and
// elements with no name are skipped.
template <class F>
void scan_line(std::string_view line, F&& f) {
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    if (is_ows(line[i]) || line[i] == ',') {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < n && is_tchar(line[i])) ++i;
    Directive d;
    d.name = line.substr(start, i - start);
    bool ok = !d.name.empty();
    if (ok && i < n && line[i] == '=') {
      ++i;
      d.has_arg = true;
      if (i < n && line[i] == '"') {
        const size_t q = ++i;
        bool closed = false;
        while (i < n) {
          if (line[i] == '\\') {
            i += 2;
            continue;
          }
          if (line[i] == '"') {
            closed = true;
            break;
          }
          ++i;
        }
        if (closed) {
          d.arg = line.substr(q, i - q);
          ++i;
        } else {
          ok = false;
          i = n;
        }
      } else {
        const size_t a = i;
        while (i < n && is_tchar(line[i])) ++i;
        d.arg = line.substr(a, i - a);
        ok = !d.arg.empty();
      }
    }
    size_t j = i;
    while (j < n && is_ows(line[j])) ++j;
    if (ok && j < n && line[j] != ',') ok = false;
    if (ok) {
      i = j;
    } else {
      i = next_element(line, i);
      if (d.name.empty()) continue;   // no name at all: nothing to salvage
      d.malformed = true;
      d.arg = {};
      d.has_arg = false;
    }
    f(d);
  }
}

// First occurrence wins; `invalid_as_zero` makes a bad argument count as 0
// (it still occupies the slot), otherwise a bad argument is ignored and a
// later valid occurrence may fill the slot.
void set_delta(std::optional<int64_t>& slot, const Directive& d, bool invalid_as_zero) {
  if (slot) return;
  std::optional<int64_t> v = d.has_arg ? parse_delta_seconds(d.arg) : std::nullopt;
  if (v) slot = v;
  else if (invalid_as_zero) slot = 0;
}

}  // namespace

std::optional<int64_t> parse_delta_seconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v < kDeltaMax) v = v * 10 + (c - '0');   // below 2^31 * 10 + 9: no overflow
  }
  return v > kDeltaMax ? kDeltaMax : v;
}

namespace {

void apply(RequestCacheControl& cc, const Directive& d) {
  const std::string_view n = d.name;
  if (http::iequals(n, "no-cache")) {
    cc.no_cache = true;
  } else if (http::iequals(n, "no-store")) {
    cc.no_store = true;
  } else if (d.malformed) {
    return;
  } else if (http::iequals(n, "max-age")) {
    set_delta(cc.max_age, d, true);
  } else if (http::iequals(n, "max-stale")) {
    if (cc.max_stale) return;
    if (!d.has_arg) {
      cc.max_stale = true;
    } else if (std::optional<int64_t> v = parse_delta_seconds(d.arg)) {
      cc.max_stale = true;
      cc.max_stale_limit = v;
    }
  } else if (http::iequals(n, "min-fresh")) {
    set_delta(cc.min_fresh, d, false);
  } else if (http::iequals(n, "stale-if-error")) {
    set_delta(cc.stale_if_error, d, false);
  } else if (http::iequals(n, "no-transform")) {
    cc.no_transform = true;
  } else if (http::iequals(n, "only-if-cached")) {
    cc.only_if_cached = true;
  }
}

void apply(ResponseCacheControl& cc, const Directive& d) {
  const std::string_view n = d.name;
  if (http::iequals(n, "no-cache")) {
    // Unqualified anywhere wins over a list: a field list only narrows.
    if (!cc.no_cache) cc.no_cache_fields = d.arg;
    else if (d.arg.empty()) cc.no_cache_fields = {};
    cc.no_cache = true;
  } else if (http::iequals(n, "private")) {
    if (!cc.is_private) cc.private_fields = d.arg;
    else if (d.arg.empty()) cc.private_fields = {};
    cc.is_private = true;
  } else if (http::iequals(n, "no-store")) {
    cc.no_store = true;
  } else if (http::iequals(n, "must-revalidate")) {
    cc.must_revalidate = true;
  } else if (http::iequals(n, "proxy-revalidate")) {
    cc.proxy_revalidate = true;
  } else if (d.malformed) {
    return;
  } else if (http::iequals(n, "max-age")) {
    set_delta(cc.max_age, d, true);
  } else if (http::iequals(n, "s-maxage")) {
    set_delta(cc.s_maxage, d, true);
  } else if (http::iequals(n, "stale-while-revalidate")) {
    set_delta(cc.stale_while_revalidate, d, false);
  } else if (http::iequals(n, "stale-if-error")) {
    set_delta(cc.stale_if_error, d, false);
  } else if (http::iequals(n, "public")) {
    if (!d.has_arg) cc.is_public = true;
  } else if (http::iequals(n, "immutable")) {
    if (!d.has_arg) cc.immutable = true;
  } else if (http::iequals(n, "must-understand")) {
    cc.must_understand = true;
  } else if (http::iequals(n, "no-transform")) {
    cc.no_transform = true;
  }
}

template <class T>
T parse_lines(std::span<const std::string_view> lines) {
  T cc;
  for (std::string_view line : lines) scan_line(line, [&](const Directive& d) { apply(cc, d); });
  return cc;
}

template <class T>
T parse_fields(std::span<const http::Field> fields) {
  T cc;
  for (const http::Field& f : fields) {
    if (http::iequals(f.name, "cache-control")) {
      scan_line(f.value, [&](const Directive& d) { apply(cc, d); });
    }
  }
  return cc;
}

}  // namespace

RequestCacheControl parse_request_cache_control(std::span<const std::string_view> lines) {
  return parse_lines<RequestCacheControl>(lines);
}

ResponseCacheControl parse_response_cache_control(std::span<const std::string_view> lines) {
  return parse_lines<ResponseCacheControl>(lines);
}

RequestCacheControl request_cache_control(std::span<const http::Field> fields) {
  return parse_fields<RequestCacheControl>(fields);
}

ResponseCacheControl response_cache_control(std::span<const http::Field> fields) {
  return parse_fields<ResponseCacheControl>(fields);
}

}  // namespace gh::cache
