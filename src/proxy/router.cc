#include "proxy/router.h"

#include <algorithm>
#include <map>

#include "http/path.h"
#include "http/token.h"

namespace gh::proxy {
namespace {

constexpr size_t kMaxHost = 255;  // longest DNS name; longer hosts match no domain


// Host characters we accept for domain matching, after lower-casing. '_' is
// not legal in DNS host names but common enough in internal ones.
bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool hex_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Lower-cases `host` into `buf` without port and trailing dot. Returns the
// normalized name, or an empty view when it cannot match any domain route.
std::string_view normalize_host(std::string_view host, char (&buf)[kMaxHost + 1]) {
  if (host.empty()) return {};
  size_t n = 0;
  if (host.front() == '[') {
    // IP literal: keep the brackets so "[::1]" can be listed as a domain.
    size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    host = host.substr(0, close + 1);
    if (host.size() > kMaxHost) return {};
    for (char c : host) {
      char l = http::ascii_lower(c);
      if (!(hex_char(l) || l == ':' || l == '.' || l == '[' || l == ']')) return {};
      buf[n++] = l;
    }
    return {buf, n};
  }
  host = host.substr(0, host.find(':'));
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHost) return {};
  char prev = '.';  // a leading '.' would be an empty label
  for (char c : host) {
    char l = http::ascii_lower(c);
    if (!host_char(l) || (l == '.' && prev == '.')) return {};
    buf[n++] = l;
    prev = l;
  }
  return {buf, n};
}

std::string normalize_domain(std::string_view d) {
  std::string out;
  out.reserve(d.size());
  for (char c : d) out.push_back(http::ascii_lower(c));
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix.size() <= 1) return true;  // "/" (or empty) covers everything
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  if (path.size() == prefix.size()) return true;
  char next = path[prefix.size()];
  return next == '/' || next == '?';
}

Router::Router(const std::vector<config::Route>& routes) {
  // Collect candidates per key first; std::map gives the sorted key order the
  // binary search needs. Construction happens once per config snapshot.
  std::map<std::string, std::vector<Candidate>> exact, wildcard;
  std::vector<Candidate> any;
  for (size_t i = 0; i < routes.size(); ++i) {
    const config::Route& r = routes[i];
    Candidate c{r.path, static_cast<int>(i)};
    if (r.domains.empty()) {
      any.push_back(c);
      continue;
    }
    for (const std::string& d : r.domains) {
      std::string key = normalize_domain(d);
      if (key.size() > 2 && key[0] == '*' && key[1] == '.') {
        key.erase(0, 1);  // keep the dot: ".example.com"
        auto& v = wildcard[key];
        // A route listing the same domain twice counts once.
        if (v.empty() || v.back().index != c.index) v.push_back(c);
      } else {
        auto& v = exact[key];
        if (v.empty() || v.back().index != c.index) v.push_back(c);
      }
    }
  }
  // Longest prefix first; stable keeps config order among equal lengths.
  auto order = [](std::vector<Candidate>& v) {
    std::stable_sort(v.begin(), v.end(), [](const Candidate& a, const Candidate& b) {
      return a.prefix.size() > b.prefix.size();
    });
  };
  auto flatten = [&](std::map<std::string, std::vector<Candidate>>& from, std::vector<Group>& to) {
    for (auto& [key, v] : from) {
      order(v);
      Group g{key, static_cast<uint32_t>(candidates_.size()), 0};
      candidates_.insert(candidates_.end(), v.begin(), v.end());
      g.end = static_cast<uint32_t>(candidates_.size());
      to.push_back(std::move(g));
    }
  };
  flatten(exact, exact_);
  flatten(wildcard, wildcard_);
  order(any);
  any_begin_ = static_cast<uint32_t>(candidates_.size());
  candidates_.insert(candidates_.end(), any.begin(), any.end());
  any_end_ = static_cast<uint32_t>(candidates_.size());
}

const Router::Group* Router::find_group(const std::vector<Group>& groups, std::string_view key) {
  auto it = std::lower_bound(groups.begin(), groups.end(), key,
                             [](const Group& g, std::string_view k) { return std::string_view(g.key) < k; });
  if (it == groups.end() || it->key != key) return nullptr;
  return &*it;
}

int Router::first_match(uint32_t begin, uint32_t end, std::string_view path) const {
  for (uint32_t i = begin; i < end; ++i) {
    if (prefix_matches(candidates_[i].prefix, path)) return candidates_[i].index;
  }
  return -1;
}

int Router::match(std::string_view host, std::string_view path) const {
  path = path.substr(0, path.find('?'));
  if (!exact_.empty() || !wildcard_.empty()) {
    char buf[kMaxHost + 1];
    std::string_view name = normalize_host(host, buf);
    if (!name.empty()) {
      if (const Group* g = find_group(exact_, name)) {
        if (int idx = first_match(g->begin, g->end, path); idx >= 0) return idx;
      }
      // Leftmost dot first = longest wildcard suffix first. A dot at 0 cannot
      // occur (normalize_host refuses empty labels), so at least one label
      // always precedes the suffix.
      if (!wildcard_.empty() && name.front() != '[') {
        for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
          if (const Group* g = find_group(wildcard_, name.substr(dot))) {
            if (int idx = first_match(g->begin, g->end, path); idx >= 0) return idx;
          }
        }
      }
    }
  }
  return first_match(any_begin_, any_end_, path);
}

// --- prefix stripping ---------------------------------------------------------

namespace {

// Appends `path` with `prefix` cut off; `path` must be under it.
void append_stripped(std::string_view path, std::string_view prefix, std::string& out) {
  std::string_view rest = path.substr(prefix.size());
  if (rest.empty() || rest.front() == '?') out.push_back('/');
  out.append(rest);
}

}  // namespace

void strip_route_prefix(std::string_view raw, std::string_view normalized, std::string_view prefix,
                        std::string& out) {
  if (prefix.size() <= 1) {
    out.append(raw);
    return;
  }
  if (prefix_matches(prefix, raw)) {
    std::string_view rest = raw.substr(prefix.size());
    if (rest.empty() || rest.front() == '?') {
      append_stripped(raw, prefix, out);
      return;
    }
    // Does the rest stay below the prefix? Normalize it past the end of out
    // (and drop that again) to find out.
    const size_t mark = out.size();
    const bool stays = http::normalize_path(rest, out) == http::PathStatus::ok;
    out.resize(mark);
    if (stays) {
      out.append(rest);
      return;
    }
  }
  if (prefix_matches(prefix, normalized)) append_stripped(normalized, prefix, out);
  else out.append(raw);
}

}  // namespace gh::proxy
