#include "proxy/rewrite.h"

#include "http/exchange.h"
#include "proxy/router.h"

namespace gh::proxy {
namespace {

bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool ws(char c) { return c == ' ' || c == '\t'; }

// CR, LF and NUL would split or truncate the header we write.
bool has_forbidden(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; }

std::optional<std::string> finish(std::string&& out, std::string_view original) {
  if (out == original || has_forbidden(out)) return std::nullopt;
  return std::move(out);
}

struct Authority {
  std::string_view host;  // brackets kept for IP literals
  std::string_view port;  // empty when absent
};

// Splits "host", "host:port", "[v6]" or "[v6]:port". Refuses userinfo and
// unbracketed colons in the host.
bool split_authority(std::string_view a, Authority& out) {
  if (a.find('@') != std::string_view::npos) return false;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    out.host = a.substr(0, close + 1);
    std::string_view rest = a.substr(close + 1);
    if (rest.empty()) {
      out.port = {};
      return true;
    }
    if (rest.front() != ':') return false;
    out.port = rest.substr(1);
    return true;
  }
  size_t colon = a.find(':');
  out.host = a.substr(0, colon);
  out.port = colon == std::string_view::npos ? std::string_view() : a.substr(colon + 1);
  return out.port.find(':') == std::string_view::npos;
}

// The port that tells two authorities apart: empty for none or the scheme's default.
std::string_view effective_port(std::string_view port, std::string_view scheme) {
  if ((port == "80" && http::iequals(scheme, "http")) || (port == "443" && http::iequals(scheme, "https"))) return {};
  return port;
}

bool same_authority(std::string_view a, std::string_view a_scheme, std::string_view b, std::string_view b_scheme) {
  Authority x, y;
  if (!split_authority(a, x) || !split_authority(b, y)) return false;
  return http::iequals(x.host, y.host) && effective_port(x.port, a_scheme) == effective_port(y.port, b_scheme);
}

bool prefix_is_root(std::string_view prefix) { return prefix.size() <= 1; }

// Appends `path` (backend space, already known to be inside the backend
// prefix) as the client sees it.
void append_client_path(std::string_view path, const RewriteContext& ctx, std::string& out) {
  if (!ctx.strip_prefix || prefix_is_root(ctx.route_prefix)) {
    out.append(path);
    return;
  }
  out.append(ctx.route_prefix);
  if (path.empty() || path == "/") {
    out.push_back('/');
  } else {
    out.append(path);
  }
}

// Maps an absolute URL or network-path reference. `scheme` is empty for a
// network-path reference; `authority` and `rest` (path, query, fragment)
// are its parts; `head` is everything before the authority as sent.
std::optional<std::string> rewrite_url(std::string_view value, std::string_view scheme, std::string_view authority,
                                       std::string_view rest, const RewriteContext& ctx) {
  size_t path_end = rest.find_first_of("?#");
  std::string_view path = rest.substr(0, path_end);
  std::string_view tail = path_end == std::string_view::npos ? std::string_view() : rest.substr(path_end);
  std::string_view backend_prefix = ctx.strip_prefix ? std::string_view("/") : ctx.route_prefix;
  bool network_path = scheme.empty();

  std::string out;
  out.reserve(value.size() + ctx.route_prefix.size() + ctx.client_host.size() + ctx.client_scheme.size() + 4);
  if (ctx.preserve_host) {
    // The backend saw the client's Host: keep scheme and authority as sent.
    std::string_view url_scheme = network_path ? ctx.client_scheme : scheme;
    if (!same_authority(authority, url_scheme, ctx.client_host, ctx.client_scheme)) return std::nullopt;
    if (!prefix_matches(backend_prefix, path)) return std::nullopt;
    out.append(value.substr(0, value.size() - rest.size()));
    append_client_path(path, ctx, out);
    out.append(tail);
    return finish(std::move(out), value);
  }
  if (!network_path && !http::iequals(scheme, ctx.backend_scheme)) return std::nullopt;
  if (!same_authority(authority, ctx.backend_scheme, ctx.backend_authority, ctx.backend_scheme)) return std::nullopt;
  if (!prefix_matches(backend_prefix, path)) return std::nullopt;
  if (ctx.client_host.empty()) {
    // No Host to name: a path-only reference resolves against what the client used.
    size_t before = out.size();
    append_client_path(path, ctx, out);
    if (out.size() == before) out.push_back('/');
  } else {
    if (network_path) {
      out.append("//");
    } else {
      out.append(ctx.client_scheme.empty() ? std::string_view("http") : ctx.client_scheme);
      out.append("://");
    }
    out.append(ctx.client_host);
    append_client_path(path, ctx, out);
  }
  out.append(tail);
  return finish(std::move(out), value);
}

// Length of a URI scheme followed by ':' at the start of `v`, or 0.
size_t scheme_length(std::string_view v) {
  if (v.empty() || !alpha(v[0])) return 0;
  for (size_t i = 1; i < v.size(); ++i) {
    char c = v[i];
    if (c == ':') return i;
    if (!(alpha(c) || digit(c) || c == '+' || c == '-' || c == '.')) return 0;
  }
  return 0;
}

}  // namespace

std::optional<std::string> rewrite_location(std::string_view value, const RewriteContext& ctx) {
  if (!ctx.active() || value.size() > kMaxRewriteValue || has_forbidden(value)) return std::nullopt;
  if (value.size() >= 2 && value[0] == '/' && value[1] == '/') {
    std::string_view after = value.substr(2);
    size_t end = after.find_first_of("/?#");
    std::string_view authority = after.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
    return rewrite_url(value, {}, authority, rest, ctx);
  }
  if (!value.empty() && value[0] == '/') {
    // Absolute path: the backend's "/" is the route prefix when stripped.
    if (!ctx.strip_prefix || prefix_is_root(ctx.route_prefix)) return std::nullopt;
    size_t path_end = value.find_first_of("?#");
    std::string out;
    out.reserve(value.size() + ctx.route_prefix.size() + 1);
    append_client_path(value.substr(0, path_end), ctx, out);
    if (path_end != std::string_view::npos) out.append(value.substr(path_end));
    return finish(std::move(out), value);
  }
  size_t slen = scheme_length(value);
  if (slen == 0) return std::nullopt;  // relative reference, fragment or query only
  std::string_view scheme = value.substr(0, slen);
  if (!http::iequals(scheme, "http") && !http::iequals(scheme, "https")) return std::nullopt;
  std::string_view after = value.substr(slen + 1);
  if (after.size() < 2 || after[0] != '/' || after[1] != '/') return std::nullopt;  // "http:x" is relative
  after.remove_prefix(2);
  size_t end = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
  return rewrite_url(value, scheme, authority, rest, ctx);
}

std::optional<std::string> rewrite_refresh(std::string_view value, const RewriteContext& ctx) {
  if (!ctx.active() || value.size() > kMaxRewriteValue || has_forbidden(value)) return std::nullopt;
  // Grammar as browsers read it: delay, then optional ';' or ',', then an
  // optional "url =" and the URL, possibly quoted.
  size_t i = 0, n = value.size();
  while (i < n && ws(value[i])) ++i;
  size_t delay_start = i;
  while (i < n && (digit(value[i]) || value[i] == '.')) ++i;
  if (i == delay_start) return std::nullopt;
  while (i < n && ws(value[i])) ++i;
  if (i < n && (value[i] == ';' || value[i] == ',')) ++i;
  while (i < n && ws(value[i])) ++i;
  if (i == n) return std::nullopt;
  if (n - i >= 3 && http::iequals(value.substr(i, 3), "url")) {
    size_t j = i + 3;
    while (j < n && ws(value[j])) ++j;
    if (j < n && value[j] == '=') {
      i = j + 1;
      while (i < n && ws(value[i])) ++i;
    }
  }
  size_t url_start = i, url_end = n;
  if (i < n && (value[i] == '\'' || value[i] == '"')) {
    url_start = i + 1;
    size_t close = value.find(value[i], url_start);
    if (close != std::string_view::npos) url_end = close;
  } else {
    while (url_end > url_start && ws(value[url_end - 1])) --url_end;
  }
  auto url = rewrite_location(value.substr(url_start, url_end - url_start), ctx);
  if (!url) return std::nullopt;
  std::string out;
  out.reserve(value.size() + url->size());
  out.append(value.substr(0, url_start));
  out.append(*url);
  out.append(value.substr(url_end));
  return finish(std::move(out), value);
}

std::optional<std::string> rewrite_set_cookie(std::string_view value, const RewriteContext& ctx) {
  if (!ctx.active() || value.size() > kMaxRewriteValue || has_forbidden(value)) return std::nullopt;
  bool map_path = ctx.strip_prefix && !prefix_is_root(ctx.route_prefix);
  Authority client;
  bool map_domain = !ctx.preserve_host && !ctx.backend_host.empty() && split_authority(ctx.client_host, client) &&
                    !client.host.empty();
  if (!map_path && !map_domain) return std::nullopt;

  std::string out;
  size_t copied = 0;  // value[0, copied) is already in out
  // The first ';'-separated part is name=value and never touched; browsers
  // split at every ';', quotes or not, and so do we.
  for (size_t pos = value.find(';'); pos != std::string_view::npos;) {
    size_t start = pos + 1;
    size_t next = value.find(';', start);
    size_t end = next == std::string_view::npos ? value.size() : next;
    pos = next;
    size_t eq = value.find('=', start);
    if (eq == std::string_view::npos || eq >= end) continue;
    size_t nb = start, ne = eq;
    while (nb < ne && ws(value[nb])) ++nb;
    while (ne > nb && ws(value[ne - 1])) --ne;
    size_t vb = eq + 1, ve = end;
    while (vb < ve && ws(value[vb])) ++vb;
    while (ve > vb && ws(value[ve - 1])) --ve;
    std::string_view name = value.substr(nb, ne - nb);
    std::string_view attr = value.substr(vb, ve - vb);

    bool replace_path = map_path && http::iequals(name, "path") && !attr.empty() && attr[0] == '/';
    bool replace_domain = false;
    bool dot = false;
    if (map_domain && http::iequals(name, "domain")) {
      std::string_view d = attr;
      dot = !d.empty() && d[0] == '.';
      if (dot) d.remove_prefix(1);
      replace_domain = http::iequals(d, ctx.backend_host);
    }
    if (!replace_path && !replace_domain) continue;
    if (out.empty()) out.reserve(value.size() + ctx.route_prefix.size() + ctx.client_host.size());
    out.append(value.substr(copied, vb - copied));
    if (replace_path) {
      out.append(ctx.route_prefix);
      if (attr != "/") out.append(attr);
    } else {
      if (dot) out.push_back('.');
      out.append(client.host);
    }
    copied = ve;
  }
  if (copied == 0) return std::nullopt;
  out.append(value.substr(copied));
  return finish(std::move(out), value);
}

}  // namespace gh::proxy
