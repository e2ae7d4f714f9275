// libFuzzer target: proxy routing helpers and response header rewriting.
//
// Input layout: byte 0 holds flags, the rest is split at NUL bytes into
//   value \0 route_prefix \0 client_host \0 backend_authority \0 backend_host
// (missing parts are empty; NUL never reaches these functions in the proxy,
// since the HTTP/1 parser and the config loader refuse it).
//   flag bit 0: strip_prefix        bit 1: !preserve_host
//   bit 2: client is https          bit 3: backend is https
//   bit 4: route prefix normalized the way the config loader does it
//
// Checks:
//  - http::normalize_path(value), read against its contract: a refusal
//    leaves the output alone; an accepted path gives a result that starts
//    with '/', is no longer than the input, normalizes to itself, holds no
//    "//", no dot segment (also before a ';'), no escape of an unreserved
//    character, no lower-case hex, no control byte, space, DEL, '#' or
//    backslash before the query, and keeps the query byte for byte;
//  - strip_route_prefix appends; with a prefix in normal form that covers the
//    normalized path, the result normalizes to the normalized path with the
//    prefix cut off (raw bytes or not, the backend resolves what we routed);
//  - Router::match returns a valid index whose prefix covers the path;
//  - rewrite_location / rewrite_refresh / rewrite_set_cookie: results never
//    contain CR, LF or NUL, differ from the input, and nothing is rewritten
//    when the context is inactive; an absolute path with strip_prefix gets
//    exactly the route prefix in front.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/path.h"
#include "proxy/rewrite.h"
#include "proxy/router.h"

#include "fuzz_check.h"

using namespace gh;


namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// The contract of normalize_path for an accepted `in`, read independently
// of its implementation.
void check_normal_form(std::string_view in, std::string_view out) {
  FUZZ_CHECK(!out.empty() && out[0] == '/');
  FUZZ_CHECK(out.size() <= in.size());
  const size_t qi = in.find('?'), qo = out.find('?');
  FUZZ_CHECK((qi == std::string_view::npos) == (qo == std::string_view::npos));
  if (qi != std::string_view::npos) FUZZ_CHECK(in.substr(qi) == out.substr(qo));
  const std::string_view path = out.substr(0, qo);
  FUZZ_CHECK(path.find("//") == std::string_view::npos);
  size_t seg_start = 1;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string_view seg = path.substr(seg_start, i - seg_start);
      seg = seg.substr(0, seg.find(';'));
      FUZZ_CHECK(seg != "." && seg != "..");
      seg_start = i + 1;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(path[i]);
    FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '#');
    if (c != '%') continue;
    FUZZ_CHECK(i + 2 < path.size());
    const int hi = hex(path[i + 1]), lo = hex(path[i + 2]);
    FUZZ_CHECK(hi >= 0 && lo >= 0);
    FUZZ_CHECK(!(path[i + 1] >= 'a' && path[i + 1] <= 'f') && !(path[i + 2] >= 'a' && path[i + 2] <= 'f'));
    const auto d = static_cast<unsigned char>(hi * 16 + lo);
    FUZZ_CHECK(!unreserved(d) && d != 0 && d != '\\');
    i += 2;
  }
  std::string again;
  FUZZ_CHECK(http::normalize_path(out, again) == http::PathStatus::ok);
  FUZZ_CHECK(again == out);
}

bool has_forbidden(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

void check_rewrite(const std::optional<std::string>& out, std::string_view in,
                   const proxy::RewriteContext& ctx) {
  if (!out) return;
  FUZZ_CHECK(ctx.active());
  FUZZ_CHECK(!has_forbidden(*out));
  FUZZ_CHECK(*out != in);
  FUZZ_CHECK(in.size() <= proxy::kMaxRewriteValue);
  FUZZ_CHECK(!has_forbidden(in));
}

// What the config loader does to a route path: leading '/', no trailing '/'.
std::string normalized_prefix(std::string_view p) {
  std::string s(p);
  if (s.empty() || s[0] != '/') s.insert(s.begin(), '/');
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view parts[5];
  for (size_t i = 0; i < 5; ++i) {
    const size_t nul = rest.find('\0');
    parts[i] = rest.substr(0, nul);
    if (nul == std::string_view::npos) {
      rest = {};
      break;
    }
    rest.remove_prefix(nul + 1);
  }
  const std::string_view value = parts[0];
  std::string prefix_store = (flags & 0x10) ? normalized_prefix(parts[1]) : std::string(parts[1]);
  const std::string_view prefix = prefix_store;

  // --- path normalization ---
  std::string norm = "N";
  const bool normal = http::normalize_path(value, norm) == http::PathStatus::ok;
  if (normal) check_normal_form(value, std::string_view(norm).substr(1));
  else FUZZ_CHECK(norm == "N");
  norm.erase(0, 1);

  // --- prefix matching and stripping ---
  {
    std::string out = "X";  // must be appended to, not replaced
    proxy::strip_route_prefix(value, norm, prefix, out);
    FUZZ_CHECK(!out.empty() && out[0] == 'X');
    const std::string_view got = std::string_view(out).substr(1);
    std::string prefix_norm;
    const bool prefix_normal = http::normalize_path(prefix, prefix_norm) == http::PathStatus::ok &&
                               prefix_norm == prefix && prefix.back() != '/' &&
                               prefix.find('?') == std::string_view::npos;
    if (prefix.size() <= 1) {
      FUZZ_CHECK(got == value);
    } else if (normal && prefix_normal && proxy::prefix_matches(prefix, norm)) {
      // What the backend resolves is the normalized path minus the prefix.
      std::string_view rest = std::string_view(norm).substr(prefix.size());
      std::string want = (rest.empty() || rest[0] == '?') ? "/" + std::string(rest) : std::string(rest);
      std::string resolved;
      FUZZ_CHECK(http::normalize_path(got, resolved) == http::PathStatus::ok);
      FUZZ_CHECK(resolved == want);
    } else if (!proxy::prefix_matches(prefix, value) && !proxy::prefix_matches(prefix, norm)) {
      FUZZ_CHECK(got == value);
    }
  }

  // --- router ---
  {
    std::vector<config::Route> routes(3);
    routes[0].path = prefix_store.empty() ? "/" : prefix_store;
    if (!parts[2].empty()) routes[0].domains.emplace_back(parts[2]);
    routes[1].path = "/";
    if (!parts[4].empty()) routes[1].domains.emplace_back("*." + std::string(parts[4]));
    routes[2].path = routes[0].path;  // catch-all with the same prefix
    const proxy::Router router(routes);
    for (std::string_view host : {parts[2], parts[3], std::string_view("x.") }) {
      const int i = router.match(host, value);
      FUZZ_CHECK(i >= -1 && i < 3);
      if (i >= 0) FUZZ_CHECK(proxy::prefix_matches(routes[size_t(i)].path, value.substr(0, value.find('?'))));
    }
  }

  // --- response header rewriting ---
  proxy::RewriteContext ctx;
  ctx.strip_prefix = flags & 0x01;
  ctx.preserve_host = !(flags & 0x02);
  ctx.client_scheme = (flags & 0x04) ? "https" : "http";
  ctx.backend_scheme = (flags & 0x08) ? "https" : "http";
  ctx.route_prefix = prefix.empty() ? std::string_view("/") : prefix;
  ctx.client_host = parts[2];
  ctx.backend_authority = parts[3];
  ctx.backend_host = parts[4];

  const auto loc = proxy::rewrite_location(value, ctx);
  check_rewrite(loc, value, ctx);
  if (loc && ctx.strip_prefix && value.size() >= 1 && value[0] == '/' && (value.size() < 2 || value[1] != '/')) {
    // An absolute path in the backend's space just gets the route prefix.
    FUZZ_CHECK(*loc == std::string(ctx.route_prefix) + std::string(value));
  }
  if (!ctx.active()) FUZZ_CHECK(!loc);
  check_rewrite(proxy::rewrite_refresh(value, ctx), value, ctx);
  check_rewrite(proxy::rewrite_set_cookie(value, ctx), value, ctx);

  // Refresh with the value as its URL part must map the URL the same way.
  if (loc && value.size() < proxy::kMaxRewriteValue - 8) {
    const std::string refresh = "0; url=" + std::string(value);
    const auto r = proxy::rewrite_refresh(refresh, ctx);
    check_rewrite(r, refresh, ctx);
    const bool trimmed = value.back() == ' ' || value.back() == '\t' || value.front() == ' ' ||
                         value.front() == '\t' || value.front() == '\'' || value.front() == '"';
    if (!trimmed) FUZZ_CHECK(r && *r == "0; url=" + *loc);
  }
  return 0;
}
