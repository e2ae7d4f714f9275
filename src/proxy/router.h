// Request routing: Host + path -> index of a config::Route. Virtual hosts the
// way nginx picks them (exact name, then wildcard, then catch-all), then the
// longest path prefix on a segment boundary. All tables are built once per
// config snapshot, so `match` runs per request without allocating.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace gh::proxy {

class Router {
 public:
  // Builds the lookup tables. `routes` must outlive the router (it keeps
  // views of their paths). Domain entries are lower-cased and a trailing dot
  // removed; "*.suffix" is a wildcard, any other '*' form is an exact name
  // (which no valid Host can equal).
  explicit Router(const std::vector<config::Route>& routes);

  // host: the Host value as received (any case, optional ":port", "[v6]:port",
  // optional trailing dot; empty when absent). path: the request path in
  // http::normalize_path form (route prefixes are in that form too), may
  // include "?query" (ignored). Returns the index into `routes`, or -1 when
  // nothing matches. A host that is malformed (bad characters, empty labels,
  // over 255 bytes) matches only routes without domains. Never allocates.
  int match(std::string_view host, std::string_view path) const;

 private:
  // One route that may serve a host class.
  struct Candidate {
    std::string_view prefix;  // route path ("/" matches everything)
    int index;                // into the config's route list
  };
  // A run of candidates sharing one domain key, longest prefix first,
  // config order within equal lengths.
  struct Group {
    std::string key;          // exact name, or wildcard suffix with its dot (".example.com")
    uint32_t begin;
    uint32_t end;
  };

  // The group whose key equals `key`, or null; `groups` is sorted by key.
  static const Group* find_group(const std::vector<Group>& groups, std::string_view key);
  // First candidate in [begin, end) whose prefix covers `path`, or -1.
  int first_match(uint32_t begin, uint32_t end, std::string_view path) const;

  std::vector<Candidate> candidates_;  // all groups' candidates, back to back
  std::vector<Group> exact_;           // sorted by key
  std::vector<Group> wildcard_;        // sorted by key
  uint32_t any_begin_ = 0;             // domain-less routes in candidates_
  uint32_t any_end_ = 0;
};

// Appends the request-target to send upstream on a route with strip_prefix.
// `raw` is the client's path and query as sent; `normalized` is its
// http::normalize_path form, the one the route matched. One rule:
//  - when `raw` starts with `prefix` on a segment boundary, and what follows
//    the prefix does not climb above it with "..", the prefix is cut from the
//    client's own bytes: "/api//x?q" -> "//x?q", "/api" -> "/", "/api?x" -> "/?x";
//  - otherwise (the prefix appears only after normalization, as in
//    "/x/../api/users" or "/%61pi/users", or "/api/../../api/x" would climb
//    out of it) the prefix is cut from `normalized`: "/users".
// Prefix "/" (or empty) appends `raw` unchanged; so does a path that neither
// form puts under the prefix. Uses `out` past its end as scratch space, so
// it does not allocate when `out` has room for raw.size() more bytes.
void strip_route_prefix(std::string_view raw, std::string_view normalized, std::string_view prefix,
                        std::string& out);

// True when `path` (its part before '?') is `prefix` or lies below it on a
// segment boundary. Prefix "/" matches every path. Shared with the rewriter.
bool prefix_matches(std::string_view prefix, std::string_view path);

}  // namespace gh::proxy
