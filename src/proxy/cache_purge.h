// Purging the response cache (the admin listener's POST /cache/purge,
// docs/caching.md): by URL, from every cached route's store of a runtime
// snapshot, or a whole route's store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/runtime.h"

namespace gh::proxy {

struct CachePurge {
  int status = 200;        // 400: not a URL we key; 404: no cached route with that path
  uint64_t purged = 0;     // stored responses removed
  std::string error;       // why, when status is not 200
};

// An absolute "http://" or "https://" URL: its primary key (cache/key.h:
// scheme and host lower-cased, default port dropped, path and query byte for
// byte), and the key of its normalized path (as routes see it) when that
// differs, are erased from every store, every Vary variant. 400 for anything else (no scheme, no host, a path
// http::normalize_path refuses).
CachePurge purge_cache_url(const Runtime& rt, std::string_view url);

// The `path` of a route with `cache`, as written in the config (normalized
// the same way); everything its store holds goes. 404 when no cached route
// has that path.
CachePurge purge_cache_route(const Runtime& rt, std::string_view route_path);

}  // namespace gh::proxy
