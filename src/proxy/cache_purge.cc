#include "proxy/cache_purge.h"

#include "cache/key.h"
#include "config/route_path.h"
#include "http/exchange.h"
#include "http/path.h"

namespace gh::proxy {

CachePurge purge_cache_url(const Runtime& rt, std::string_view url) {
  CachePurge r;
  std::string_view scheme;
  if (url.size() > 7 && http::iequals(url.substr(0, 7), "http://")) scheme = "http";
  else if (url.size() > 8 && http::iequals(url.substr(0, 8), "https://")) scheme = "https";
  if (scheme.empty()) {
    r.status = 400;
    r.error = "url must be an absolute http:// or https:// URL";
    return r;
  }
  std::string_view rest = url.substr(scheme.size() + 3);
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (const size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (authority.empty()) {
    r.status = 400;
    r.error = "url has no host";
    return r;
  }
  std::string path;
  if (target.empty() || target.front() == '?') path = "/";
  path += target;
  std::string normalized;
  if (http::PathStatus st = http::normalize_path(path, normalized); st != http::PathStatus::ok) {
    r.status = 400;
    r.error = std::string("url path: ") + http::path_status_text(st);
    return r;
  }
  // Keys are the target as clients sent it (cache/key.h): the URL as
  // given, and its normal form, which is how most clients spell it.
  const std::string key = cache::primary_key(scheme, authority, path);
  const std::string normal_key = cache::primary_key(scheme, authority, normalized);
  for (const RouteRuntime& rr : rt.routes) {
    if (const policy::CacheRule* c = rr.pipeline->cache()) {
      r.purged += c->store().erase(key);
      if (normal_key != key) r.purged += c->store().erase(normal_key);
    }
  }
  return r;
}

CachePurge purge_cache_route(const Runtime& rt, std::string_view route_path) {
  CachePurge r;
  std::string why;
  std::optional<std::string> norm = config::normalize_route_path(route_path, why);
  bool found = false;   // (routes may share a path, told apart by domains)
  for (const RouteRuntime& rr : rt.routes) {
    const policy::CacheRule* c = rr.pipeline->cache();
    if (!c || (rr.conf->path != route_path && (!norm || rr.conf->path != *norm))) continue;
    r.purged += c->store().erase_prefix("");
    found = true;
  }
  if (found) return r;
  r.status = 404;
  r.error = "no route with cache has the path '" + std::string(route_path) + "'";
  return r;
}

}  // namespace gh::proxy
