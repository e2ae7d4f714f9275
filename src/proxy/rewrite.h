// Response header rewriting: when strip_prefix or preserve_host: false makes
// the backend see another URL space than the client, the URLs it sends back
// (Location, Content-Location, Refresh) and its cookies' Path and Domain are
// mapped back to the client's space, in the manner of Apache's
// ProxyPassReverse, ProxyPassReverseCookiePath and ProxyPassReverseCookieDomain.
//
// The two URL spaces:
//   backend B = backend_scheme://<authority it saw><backend prefix>
//               authority: backend_authority when !preserve_host, else client_host;
//               prefix: "/" when strip_prefix, else route_prefix
//   client  C = client_scheme://client_host<route_prefix>
//
// Choices worth knowing:
//  - With preserve_host the backend saw the client's own Host, so an absolute
//    URL naming that host keeps its scheme, http or https: the backend may
//    redirect to https on purpose (or know the scheme from X-Forwarded-Proto),
//    and we cannot tell that from a naive http URL. Only the path is mapped.
//  - Without preserve_host only URLs naming the backend authority are mapped;
//    URLs already naming the client's host are left alone, since we cannot
//    tell whether the backend put the route prefix in them.
//  - A backend that already adds the prefix itself gets it twice with
//    strip_prefix (as with Apache); such backends should not use strip_prefix.
//  - When the client sent no Host, a mapped absolute URL becomes an
//    absolute-path reference, which the client resolves against what it used.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::proxy {

struct RewriteContext {
  std::string_view client_scheme;      // "http" or "https" (how the client reached us)
  std::string_view client_host;        // the client's Host value, with port if it sent one
  std::string_view route_prefix;       // the route's path ("/" when none)
  bool strip_prefix = false;
  bool preserve_host = true;
  std::string_view backend_scheme;     // "http" or "https"
  std::string_view backend_authority;  // Host the backend saw when !preserve_host: "host" or "host:port"
  std::string_view backend_host;       // backend host alone (cookie Domain)
  bool active() const { return strip_prefix || !preserve_host; }
};

// Header values longer than this are passed through unchanged.
inline constexpr size_t kMaxRewriteValue = 8 * 1024;

// Location or Content-Location value. Maps absolute http(s) URLs in B (scheme
// and host compared case-insensitively, default ports equal to none),
// network-path references ("//host/x", resolved with the scheme the backend
// meant) and, with strip_prefix, absolute paths ("/x" -> "/api/x",
// "/" -> "/api/"). Leaves unchanged (nullopt): other hosts and schemes, paths
// outside the backend prefix, relative references, fragments, query-only
// references, userinfo, values with CR, LF or NUL, values over 8 KiB.
std::optional<std::string> rewrite_location(std::string_view value, const RewriteContext& ctx);

// Refresh value: "5", "5; url=/x", "0;URL='http://b/x'", "3, /x". The URL part
// is mapped as by rewrite_location; delay, separators, spacing and quotes are
// kept. Returns nullopt when there is no URL, it needs no change, or the
// value does not start with a delay.
std::optional<std::string> rewrite_refresh(std::string_view value, const RewriteContext& ctx);

// Set-Cookie value. With strip_prefix, a Path attribute starting with '/'
// gets the route prefix (Path=/ -> Path=/api, Path=/x -> Path=/api/x); without
// preserve_host, Domain=<backend_host> (leading dot kept, compared
// case-insensitively) becomes the client's host without port. Attribute
// names are case-insensitive; everything else, spacing included, is kept.
// Returns nullopt when nothing changes, for values with CR, LF or NUL, and
// over 8 KiB.
std::optional<std::string> rewrite_set_cookie(std::string_view value, const RewriteContext& ctx);

}  // namespace gh::proxy
