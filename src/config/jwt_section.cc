// The `jwt` policy's keys (CONTRACT "Policies", docs/jwt.md). A jwks_file is
// read and its keys checked here, so a broken one fails the load (and a
// reload keeps the running config); a jwks_url is only checked for shape:
// fetching is the policy's, never the loader's.
#include <fstream>
#include <sstream>

#include "config/keys.h"
#include "config/sections.h"
#include "jose/jwk.h"

#include "http/token.h"

namespace gh::config::detail {
namespace {

constexpr uint64_t kMaxJwksFile = 1 << 20;
constexpr size_t kMaxClaimFields = 64;

void load_jwks_file(Ctx& ctx, const Value& v, Jwt& out) {
  auto path = read_file_path(ctx, v, true);
  if (!path) return;
  std::ifstream f(*path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string text = std::move(ss).str();
  if (!f.good() && !f.eof()) {
    ctx.error(v.mark, "'jwks_file' " + shown(*path, 4096) + ": cannot be read");
    return;
  }
  if (text.size() > kMaxJwksFile) {
    ctx.error(v.mark, "'jwks_file' " + shown(*path, 4096) + " is larger than 1 MiB");
    return;
  }
  jose::JwksParse keys = jose::parse_jwks(text);
  if (!keys.keys) {
    ctx.error(v.mark, "'jwks_file' " + shown(*path, 4096) + ": " + keys.error);
    return;
  }
  out.jwks_file = *path;
  out.keys = std::move(keys.keys);
}

void load_jwks_url(Ctx& ctx, const Value& v, Jwt& out) {
  auto s = read_string(ctx, v);
  if (!s) return;
  const std::string l = http::ascii_lowered(*s);
  const bool https = l.starts_with("https://");
  const size_t host_at = https ? 8 : 7;
  if ((!https && !l.starts_with("http://")) || s->size() <= host_at || (*s)[host_at] == '/' ||
      s->find_first_of(" \t") != std::string::npos) {
    ctx.error(v.mark, "'jwks_url' must be an http:// or https:// URL, got " + shown(*s));
    return;
  }
  if (!https)
    ctx.warn(v.mark, "'jwks_url' is plain http: anyone on the path can swap the keys "
                     "(use https outside a trusted network)");
  out.jwks_url = *s;
}

void load_claims_to_headers(Ctx& ctx, const Value& v, Jwt& out) {
  if (!v.node.IsMap() && !v.node.IsNull()) {
    ctx.error(v.mark, "'claims_to_headers' must be a map of claim to field name, e.g. {sub: X-User}, got " +
                          std::string(kind_of(v.node)));
    return;
  }
  if (v.node.IsNull()) return;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    Value key{it->first, it->first.Mark(), "a claim name"};
    Value val{it->second, it->second.IsNull() ? it->first.Mark() : it->second.Mark(), "a field name"};
    auto claim = read_string(ctx, key);
    auto name = read_field_name(ctx, val, val.mark);
    if (!claim || !name) continue;
    const std::string lname = http::ascii_lowered(*name);
    if (lname == "authorization") {
      ctx.error(val.mark, "'claims_to_headers' cannot set Authorization: the token goes upstream unchanged");
      continue;
    }
    bool dup = false;
    for (const auto& [c, n] : out.claims_to_headers) dup = dup || http::ascii_lowered(n) == lname;
    if (dup) {
      ctx.error(val.mark, "field " + shown(*name) + " is set from two claims");
      continue;
    }
    if (out.claims_to_headers.size() == kMaxClaimFields) {
      ctx.error(val.mark, "'claims_to_headers' sets more than " + std::to_string(kMaxClaimFields) + " fields");
      return;
    }
    out.claims_to_headers.emplace_back(*claim, *name);
  }
}

}  // namespace

void load_jwt(Ctx& ctx, const Value& v, Jwt& out) {
  std::optional<YAML::Mark> file_mark, url_mark, refresh_mark;
  for (const Entry& e : map_entries(ctx, v, "jwt", keys::kJwt)) {
    Value val = e.value;
    val.name = "'" + e.key + "'";
    if (e.key == "jwks_file") {
      file_mark = e.key_mark;
      load_jwks_file(ctx, val, out);
    } else if (e.key == "jwks_url") {
      url_mark = e.key_mark;
      load_jwks_url(ctx, val, out);
    } else if (e.key == "issuer") {
      if (auto s = read_string(ctx, val)) out.issuer = *s;
    } else if (e.key == "audiences") {
      if (val.node.IsScalar()) {   // one audience, as a word
        if (auto s = read_string(ctx, val)) out.audiences.push_back(*s);
        continue;
      }
      for (const Value& item : list_items(ctx, val))
        if (auto s = read_string(ctx, item)) out.audiences.push_back(*s);
    } else if (e.key == "claims_to_headers") {
      load_claims_to_headers(ctx, val, out);
    } else if (e.key == "clock_skew") {
      if (auto d = read_duration(ctx, val, Duration(0))) {
        if (*d > 10min) ctx.error(val.mark, "'clock_skew' above 10m would accept long-expired tokens");
        else out.clock_skew = *d;
      }
    } else if (e.key == "jwks_refresh") {
      refresh_mark = e.key_mark;
      if (auto d = read_duration(ctx, val, 10s)) out.jwks_refresh = *d;
    }
  }
  if (file_mark && url_mark)
    ctx.error(*url_mark, "'jwt' takes 'jwks_file' or 'jwks_url', not both");
  else if (!file_mark && !url_mark)
    ctx.error(v.mark, "'jwt' needs 'jwks_file' or 'jwks_url' (where the signing keys are)");
  if (refresh_mark && file_mark)
    ctx.warn(*refresh_mark, "'jwks_refresh' only applies to 'jwks_url'; a 'jwks_file' is read at "
                            "load and on reload (SIGHUP)");
}

}  // namespace gh::config::detail
