// Policy keys, shared by `server` and routes (CONTRACT "Policies"). Every
// bad value is a FILE:LINE:COL error; files a policy names are read here.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "config/address.h"
#include "config/keys.h"
#include "http/token.h"
#include "config/sections.h"
#include "config/waf_rules.h"

namespace gh::config::detail {
namespace {

bool token_char(unsigned char c) { return http::is_tchar(c); }

// Fields a rule may never touch: they frame the message or belong to one
// hop (RFC 9110 7.6.1), and gatehouse states them itself.
const char* forbidden_field(std::string_view lname) {
  static constexpr std::string_view kHop[] = {
      "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
      "trailer", "content-length", "http2-settings"};
  for (std::string_view h : kHop)
    if (lname == h) return "is a hop-by-hop or framing field, which gatehouse states itself";
  if (lname == "host") return "is set by the route (use 'preserve_host')";
  return nullptr;
}

}  // namespace

std::optional<std::string> read_field_name(Ctx& ctx, const Value& v, YAML::Mark at) {
  auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  for (unsigned char c : *s) {
    if (!token_char(c)) {
      ctx.error(at, "field name " + shown(*s) + " is not a valid token (RFC 9110 5.1)");
      return std::nullopt;
    }
  }
  std::string l = http::ascii_lowered(*s);
  if (const char* why = forbidden_field(l)) {
    ctx.error(at, "field " + shown(*s) + " " + why + "; header rules cannot change it");
    return std::nullopt;
  }
  return s;
}

namespace {

void load_field_map(Ctx& ctx, const Value& v, std::vector<std::pair<std::string, std::string>>& out) {
  if (!v.node.IsMap() && !v.node.IsNull()) {
    ctx.error(v.mark, v.name + " must be a map of field name to value, got " + kind_of(v.node));
    return;
  }
  if (v.node.IsNull()) return;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    Value key{it->first, it->first.Mark(), "a field name"};
    Value val{it->second, it->second.IsNull() ? it->first.Mark() : it->second.Mark(),
              "the value of a field"};
    auto name = read_field_name(ctx, key, key.mark);
    if (!name) continue;
    auto value = read_text(ctx, val, "a field value");
    if (!value) continue;
    out.emplace_back(*name, *value);
  }
}

void load_field_rules(Ctx& ctx, const Value& v, FieldRules& out) {
  for (const Entry& e : map_entries(ctx, v, "headers.request / headers.response", keys::kFieldRules)) {
    if (e.key == "set") {
      load_field_map(ctx, e.value, out.set);
    } else if (e.key == "add") {
      load_field_map(ctx, e.value, out.add);
    } else if (e.key == "remove") {
      for (const Value& item : list_items(ctx, e.value))
        if (auto n = read_field_name(ctx, item, item.mark)) out.remove.push_back(http::ascii_lowered(*n));
    }
  }
}

void load_headers(Ctx& ctx, const Value& v, HeaderRules& out) {
  for (const Entry& e : map_entries(ctx, v, "headers", keys::kHeaders)) {
    Value val = e.value;
    val.name = "'headers." + e.key + "'";
    load_field_rules(ctx, val, e.key == "request" ? out.request : out.response);
  }
}

const char* content_type_for(std::string_view file) {
  size_t dot = file.rfind('.');
  std::string ext = http::ascii_lowered(dot == std::string_view::npos ? "" : file.substr(dot + 1));
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "xml") return "application/xml";
  if (ext == "css") return "text/css";
  if (ext == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

// Reads a whole small file; reports and returns nullopt on failure.
std::optional<std::string> slurp(Ctx& ctx, const Value& v, const std::string& path, uint64_t max) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": cannot be read");
    return std::nullopt;
  }
  std::string s = std::move(ss).str();
  if (s.size() > max) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + " is larger than " +
                          std::to_string(max / 1024) + " KiB");
    return std::nullopt;
  }
  return s;
}

void load_error_pages(Ctx& ctx, const Value& v, std::vector<ErrorPage>& out) {
  if (!v.node.IsMap() && !v.node.IsNull()) {
    ctx.error(v.mark, "'error_pages' must be a map of status (or 4xx / 5xx) to file, got " +
                          std::string(kind_of(v.node)));
    return;
  }
  if (v.node.IsNull()) return;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    Value key{it->first, it->first.Mark(), "an error_pages status"};
    auto k = read_string(ctx, key);
    if (!k) continue;
    ErrorPage page;
    std::string kl = http::ascii_lowered(*k);
    if (kl == "4xx" || kl == "5xx") {
      page.lo = kl[0] == '4' ? 400 : 500;
      page.hi = page.lo + 99;
    } else if (auto n = parse_decimal(*k); n && *n >= 400 && *n <= 599) {
      page.lo = page.hi = static_cast<unsigned>(*n);
    } else {
      ctx.error(key.mark, "error_pages key " + shown(*k) +
                              " must be an error status 400-599, 4xx or 5xx");
      continue;
    }
    bool dup = false;
    for (const ErrorPage& p : out) dup = dup || (p.lo == page.lo && p.hi == page.hi);
    if (dup) {
      ctx.error(key.mark, "error_pages lists " + shown(*k) + " twice");
      continue;
    }
    Value val{it->second, it->second.IsNull() ? it->first.Mark() : it->second.Mark(),
              "error page"};
    auto path = read_file_path(ctx, val, true);
    if (!path) continue;
    auto body = slurp(ctx, val, *path, kMaxErrorPage);
    if (!body) continue;
    page.file = *path;
    page.content_type = content_type_for(*path);
    page.body = std::move(*body);
    out.push_back(std::move(page));
  }
}

// Returns how many items the list had (loaded or not).
size_t load_cidrs(Ctx& ctx, const Value& v, std::vector<core::Cidr>& out) {
  std::vector<Value> items = list_items(ctx, v);
  for (const Value& item : items) {
    auto s = read_string(ctx, item);
    if (!s) continue;
    if (auto c = core::Cidr::parse(*s)) out.push_back(*c);
    else ctx.error(item.mark, item.name + " must be an address or CIDR block like 10.0.0.0/8 "
                                          "or fd00::/8, got " + shown(*s));
  }
  return items.size();
}

void load_access(Ctx& ctx, const Value& v, AccessRules& out) {
  std::optional<YAML::Mark> allow_mark;
  size_t allow_items = 0;
  for (const Entry& e : map_entries(ctx, v, "access", keys::kAccess)) {
    if (e.key == "allow") {
      allow_mark = e.key_mark;
      allow_items = load_cidrs(ctx, e.value, out.allow);
    } else {
      load_cidrs(ctx, e.value, out.deny);
    }
  }
  if (allow_mark && allow_items == 0) {
    // "Only these" with none listed would refuse everyone: say so.
    ctx.error(*allow_mark, "'allow' lists no address; it would refuse every client (leave it out "
                           "to allow everyone not denied)");
  }
}

// Apache htpasswd: "user:hash" lines; '#' comments and blank lines skipped.
// Only hashes libcrypt verifies safely are taken: bcrypt and SHA-crypt.
void load_htpasswd(Ctx& ctx, const Value& v, const std::string& path, BasicAuth& out) {
  auto text = slurp(ctx, v, path, 16 * 1024 * 1024);
  if (!text) return;
  auto fail = [&](int line, int col, std::string msg) {
    if (ctx.errors.size() >= Ctx::kMaxErrors) return;
    ctx.errors.push_back(Error{path, line, col, std::move(msg)});
  };
  std::string_view rest = *text;
  int line = 0;
  while (!rest.empty()) {
    ++line;
    size_t nl = rest.find('\n');
    std::string_view l = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.find_first_not_of(" \t") == std::string_view::npos || l[0] == '#') continue;   // blank
    size_t colon = l.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail(line, 1, "not a 'user:hash' line");
      continue;
    }
    std::string_view user = l.substr(0, colon), hash = l.substr(colon + 1);
    // htpasswd may append ":comment" fields after the hash.
    if (size_t c2 = hash.find(':'); c2 != std::string_view::npos) hash = hash.substr(0, c2);
    const int col = static_cast<int>(colon) + 2;
    const std::string who = "user " + shown(user) + ": ";
    if (hash.starts_with("$apr1$") || hash.starts_with("$1$")) {
      fail(line, col, who + "MD5 password hashes are refused (weak); re-create the entry with "
                            "'htpasswd -B' (bcrypt)");
      continue;
    }
    if (hash.starts_with("{SHA}")) {
      fail(line, col, who + "SHA-1 password hashes are refused (weak, unsalted); re-create the "
                            "entry with 'htpasswd -B' (bcrypt)");
      continue;
    }
    const bool bcrypt = hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$");
    const bool sha = hash.starts_with("$5$") || hash.starts_with("$6$");
    bool shape = bcrypt || sha;
    for (unsigned char c : hash)
      if (!(isalnum(c) || c == '.' || c == '/' || c == '$' || c == '=')) shape = false;
    if (bcrypt && hash.size() != 60) shape = false;
    if (!shape) {
      fail(line, col, who + "not a bcrypt ($2y$, $2b$, $2a$) or SHA-crypt ($5$, $6$) hash; plain "
                            "text and DES crypt are refused (create entries with 'htpasswd -B')");
      continue;
    }
    bool dup = false;
    for (const HtpasswdUser& u : out.users) dup = dup || u.user == user;
    if (dup) {
      fail(line, 1, who + "listed twice");
      continue;
    }
    out.users.push_back(HtpasswdUser{std::string(user), std::string(hash)});
  }
  if (out.users.empty() && ctx.errors.empty())
    ctx.warn(v.mark, "users_file " + shown(path, 4096) + " has no users: every request is refused");
}

void load_basic_auth(Ctx& ctx, const Value& v, BasicAuth& out) {
  std::optional<YAML::Mark> file_mark;
  for (const Entry& e : map_entries(ctx, v, "basic_auth", keys::kBasicAuth)) {
    if (e.key == "realm") {
      auto s = read_string(ctx, e.value);
      if (!s) continue;
      if (s->find('"') != std::string::npos || s->find('\\') != std::string::npos) {
        ctx.error(e.value.mark, "'realm' may not contain '\"' or '\\', got " + shown(*s));
        continue;
      }
      out.realm = *s;
    } else if (e.key == "users_file") {
      file_mark = e.key_mark;
      Value val = e.value;
      val.name = "'users_file'";
      if (auto p = read_file_path(ctx, val, true)) {
        out.users_file = *p;
        load_htpasswd(ctx, val, *p, out);
      }
    }
  }
  if (!file_mark) ctx.error(v.mark, "'basic_auth' needs a 'users_file' (Apache htpasswd)");
}

// `compress: true | false | {algorithms, min_size, types}`.
void load_compress(Ctx& ctx, const Value& v, Compress& out) {
  if (v.node.IsScalar()) {
    const size_t had = ctx.errors.size();
    if (auto f = read_bool(ctx, v)) out.enabled = *f;
    else if (ctx.errors.size() > had)   // (`compress: gzip`, as nginx users write)
      ctx.errors.back().message += " (or a map, e.g. {algorithms: [gzip]})";
    return;
  }
  out.enabled = true;
  for (const Entry& e : map_entries(ctx, v, "compress", keys::kCompress)) {
    if (e.key == "algorithms") {
      std::vector<std::string> algs;
      for (const Value& item : list_items(ctx, e.value)) {
        auto s = read_string(ctx, item);
        if (!s) continue;
        std::string l = http::ascii_lowered(*s);
        if (l == "brotli") l = "br";
        if (l != "zstd" && l != "br" && l != "gzip") {
          ctx.error(item.mark, "compress algorithm " + shown(*s) + " is not one of zstd, br, gzip");
          continue;
        }
        if (std::find(algs.begin(), algs.end(), l) != algs.end()) {
          ctx.error(item.mark, "compress algorithm " + shown(*s) + " is listed twice");
          continue;
        }
        algs.push_back(l);
      }
      if (algs.empty() && ctx.errors.empty())
        ctx.error(e.value.mark, "'compress.algorithms' lists none (use 'compress: false' to turn it off)");
      out.algorithms = std::move(algs);
    } else if (e.key == "min_size") {
      if (auto n = read_size(ctx, e.value, 0, uint64_t(1) << 40)) out.min_size = *n;
    } else if (e.key == "types") {
      for (const Value& item : list_items(ctx, e.value)) {
        auto s = read_string(ctx, item);
        if (!s) continue;
        std::string l = http::ascii_lowered(*s);
        const size_t slash = l.find('/');
        bool ok = slash != std::string::npos && slash > 0 && slash + 1 < l.size();
        for (size_t i = 0; ok && i < l.size(); ++i)
          ok = i == slash || token_char(static_cast<unsigned char>(l[i]));
        if (ok && l.find('*') != std::string::npos) ok = l.substr(slash) == "/*";
        if (!ok) {
          ctx.error(item.mark, "compress type " + shown(*s) +
                                   " is not a media type like text/html or text/* (RFC 9110 8.3.1)");
          continue;
        }
        if (l == "text/event-stream")
          ctx.warn(item.mark, "text/event-stream is never compressed (each event must reach the client at once)");
        out.types.push_back(std::move(l));
      }
    }
  }
}

// `rate_limit: {rate: N/s|N/m|N/h, burst, key, store, fail}`.
void load_rate_limit(Ctx& ctx, const Value& v, RateLimit& out) {
  bool have_rate = false;
  for (const Entry& e : map_entries(ctx, v, "rate_limit", keys::kRateLimit)) {
    if (e.key == "rate") {
      have_rate = true;   // (a bad one has its own error)
      auto s = read_text(ctx, e.value, "a rate like 100/s, 600/m or 1000/h");
      if (!s) continue;
      const size_t slash = s->find('/');
      std::optional<uint64_t> n;
      if (slash != std::string::npos) n = parse_decimal(std::string_view(*s).substr(0, slash));
      const std::string unit = slash == std::string::npos ? "" : s->substr(slash + 1);
      const uint32_t period = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
      if (!n || *n == 0 || *n > 1'000'000'000 || period == 0) {
        ctx.error(e.value.mark, "'rate' must be N/s, N/m or N/h with N from 1 to 1000000000, got " +
                                    shown(*s));
        continue;
      }
      out.count = *n;
      out.period_s = period;
    } else if (e.key == "burst") {
      if (auto n = read_uint(ctx, e.value, 1, 1'000'000'000)) out.burst = *n;
    } else if (e.key == "key") {
      auto s = read_text(ctx, e.value, "client_ip, route or header:NAME");
      if (!s) continue;
      if (*s == "client_ip") {
        out.key = RateLimit::Key::client_ip;
      } else if (*s == "route") {
        out.key = RateLimit::Key::route;
      } else if (s->starts_with("header:") && s->size() > 7 &&
                 std::all_of(s->begin() + 7, s->end(),
                             [](char c) { return token_char(static_cast<unsigned char>(c)); })) {
        out.key = RateLimit::Key::header;
        out.header = s->substr(7);
      } else {
        ctx.error(e.value.mark, "'key' must be client_ip, route or header:NAME, got " + shown(*s));
      }
    } else if (e.key == "store") {
      if (auto st = read_enum<RateLimit::Store>(ctx, e.value, {{"local", RateLimit::Store::local},
                                                                {"redis", RateLimit::Store::redis}})) {
        out.store = *st;
        if (out.store == RateLimit::Store::redis) ctx.redis_stores.push_back(e.value.mark);
      }
    } else if (e.key == "fail") {
      if (auto f = read_enum<RateLimit::Fail>(ctx, e.value, {{"open", RateLimit::Fail::open},
                                                              {"closed", RateLimit::Fail::closed}}))
        out.fail = *f;
    }
  }
  if (!have_rate && !v.node.IsScalar()) ctx.error(v.mark, "'rate_limit' needs a 'rate', e.g. {rate: 100/s}");
  if (out.burst == 0) out.burst = out.count;
}

// The url of forward_auth: http:// or https://, a host (parse_address's
// rules, so IPv6 in brackets), an optional port, an optional origin-form
// path and query; no user info, no fragment, no spaces or control bytes
// (it goes into a request line as it is).
bool parse_auth_url(std::string_view url, ForwardAuth& out, std::string& why) {
  std::string l = http::ascii_lowered(url.substr(0, std::min<size_t>(url.size(), 8)));
  size_t skip = 0;
  if (l.starts_with("http://")) skip = 7;
  else if (l.starts_with("https://")) skip = 8, out.tls = true;
  if (skip == 0) {
    why = "must start with http:// or https://";
    return false;
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) {
      why = "may not contain spaces, control or non-ASCII bytes (percent-encode them)";
      return false;
    }
  }
  if (url.find('#') != std::string_view::npos) {
    why = "may not have a fragment ('#')";
    return false;
  }
  std::string_view rest = url.substr(skip);
  const size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) {
    why = "may not hold user information ('user@host'): credentials go in the auth service's own config";
    return false;
  }
  if (authority.empty()) {
    why = "has no host";
    return false;
  }
  auto hp = parse_address(authority, out.tls ? 443 : 80, why);
  if (!hp) return false;
  out.host = hp->host;
  out.port = hp->port;
  out.host_header = std::string(authority);
  out.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (out.target.front() == '?') out.target.insert(0, "/");
  out.url = std::string(url);
  return true;
}

// `forward_auth: {url, copy_headers, timeout}`.
void load_forward_auth(Ctx& ctx, const Value& v, ForwardAuth& out) {
  bool have_url = false;
  for (const Entry& e : map_entries(ctx, v, "forward_auth", keys::kForwardAuth)) {
    if (e.key == "url") {
      have_url = true;   // (a bad one has its own error)
      auto s = read_text(ctx, e.value, "a URL like http://127.0.0.1:9091/api/verify");
      if (!s) continue;
      std::string why;
      if (!parse_auth_url(*s, out, why))
        ctx.error(e.value.mark, "'forward_auth.url' " + shown(*s) + " " + why);
    } else if (e.key == "copy_headers") {
      for (const Value& item : list_items(ctx, e.value)) {
        auto n = read_field_name(ctx, item, item.mark);
        if (!n) continue;
        const bool twice = std::any_of(out.copy_headers.begin(), out.copy_headers.end(),
                                       [&](const std::string& h) { return http::ascii_lowered(h) == http::ascii_lowered(*n); });
        if (twice) {
          ctx.error(item.mark, "'copy_headers' lists " + shown(*n) + " twice");
          continue;
        }
        out.copy_headers.push_back(*n);
      }
    } else if (e.key == "timeout") {
      if (auto d = read_duration(ctx, e.value, Duration(1))) out.timeout = *d;
    }
  }
  if (!have_url && !v.node.IsScalar())
    ctx.error(v.mark, "'forward_auth' needs a 'url', e.g. {url: http://127.0.0.1:9091/api/verify}");
}

// `cache: true | false | {max_size, max_object}`.
void load_cache(Ctx& ctx, const Value& v, Cache& out) {
  if (v.node.IsScalar()) {
    const size_t had = ctx.errors.size();
    if (auto f = read_bool(ctx, v)) out.enabled = *f;
    else if (ctx.errors.size() > had)
      ctx.errors.back().message += " (or a map, e.g. {max_size: 256m, max_object: 8m})";
    return;
  }
  out.enabled = true;
  YAML::Mark object_mark = v.mark;
  bool object_given = false;
  for (const Entry& e : map_entries(ctx, v, "cache", keys::kCache)) {
    if (e.key == "max_size") {
      if (auto n = read_size(ctx, e.value, 1024, uint64_t(1) << 40)) out.max_size = *n;
    } else if (e.key == "max_object") {
      if (auto n = read_size(ctx, e.value, 1, uint64_t(1) << 40)) out.max_object = *n;
      object_mark = e.value.mark;
      object_given = true;
    }
  }
  // (A small store with the default max_object: objects up to its size.)
  if (!object_given && out.max_object > out.max_size) out.max_object = out.max_size;
  if (out.max_object > out.max_size) {
    // (A store never holds an object larger than itself.)
    ctx.error(object_mark,
              "'cache.max_object' (" + std::to_string(out.max_object) +
                  " bytes) is larger than 'cache.max_size' (" + std::to_string(out.max_size) + " bytes)");
  }
}

// `waf: {mode, rules: crs | [files], paranoia_level, body_limit}`. The rules
// are compiled here (config/waf_rules.h): a file ModSecurity refuses is an
// error at 'rules' with its message.
void load_waf(Ctx& ctx, const Value& v, Waf& out) {
  const size_t had = ctx.errors.size();
  YAML::Mark rules_mark = v.mark;
  bool paranoia_given = false;
  YAML::Mark paranoia_mark = v.mark;
  for (const Entry& e : map_entries(ctx, v, "waf", keys::kWaf)) {
    if (e.key == "mode") {
      if (auto m = read_enum<Waf::Mode>(ctx, e.value, {{"block", Waf::Mode::block},
                                                        {"detect", Waf::Mode::detect},
                                                        {"off", Waf::Mode::off}}))
        out.mode = *m;
    } else if (e.key == "rules") {
      rules_mark = e.value.mark;
      if (e.value.node.IsScalar()) {
        auto s = read_text(ctx, e.value, "crs, or a list of rule files");
        if (!s) continue;
        if (*s != "crs") {
          ctx.error(e.value.mark, "'rules' must be crs or a list of rule files (crs may be one of "
                                  "them), got " + shown(*s) + " (a single file: [" + *s + "])");
          continue;
        }
        out.crs = true;
      } else {
        // Files and the word crs, in load order: a file before crs may set
        // the CRS's variables (allowed methods, content types), one after
        // it may remove or change its rules (SecRuleRemoveById ...).
        out.crs = false;
        std::vector<Value> items = list_items(ctx, e.value);
        for (const Value& item : items) {
          if (item.node.IsScalar() && item.node.Scalar() == "crs") {
            if (out.crs) ctx.error(item.mark, "'rules' lists crs twice");
            out.crs = true;
            out.crs_at = out.rule_files.size();
            continue;
          }
          Value val = item;
          val.name = "rule file";
          if (auto p = read_file_path(ctx, val, true)) out.rule_files.push_back(*p);
        }
        if (items.empty()) ctx.error(e.value.mark, "'rules' lists no rule file (use crs for the OWASP CRS)");
      }
    } else if (e.key == "paranoia_level") {
      paranoia_given = true;
      paranoia_mark = e.value.mark;
      if (auto n = read_uint(ctx, e.value, 1, 4)) out.paranoia_level = static_cast<unsigned>(*n);
    } else if (e.key == "body_limit") {
      // (At least 1 KiB: less would not hold a form; at most 64 MiB held per request.)
      if (auto n = read_size(ctx, e.value, 1024, uint64_t(64) << 20)) out.body_limit = *n;
    }
  }
  if (paranoia_given && !out.crs)
    ctx.warn(paranoia_mark, "'paranoia_level' sets the OWASP CRS's level; with your own rule files "
                            "it has no effect");
  if (out.mode == Waf::Mode::off || ctx.errors.size() > had) return;
  std::string err;
  out.rules = compile_waf_rules(out, err);
  if (!out.rules) ctx.error(rules_mark, "waf rules: " + err);
}

// A policy's section: loaded into a fresh value (the defaults), which then
// replaces whatever `out` held.
template <class T>
void load_section(Ctx& ctx, const Value& v, std::optional<T>& out,
                  void (*load)(Ctx&, const Value&, T&)) {
  T t;
  load(ctx, v, t);
  out = std::move(t);
}

}  // namespace

bool load_policy(Ctx& ctx, const Entry& e, Policies& out) {
  const Value& val = e.value;
  if (e.key == "server_header") {
    auto s = read_text(ctx, val, "a word, or \"\" for none");
    if (!s) return true;
    for (unsigned char c : *s) {
      if (c < 0x20 || c == 0x7f) {
        ctx.error(val.mark, "'server_header' may not contain control characters");
        return true;
      }
    }
    out.server_header = *s;
  } else if (e.key == "obfuscate") {
    if (auto f = read_bool(ctx, val)) out.obfuscate = *f;
  } else if (e.key == "headers") {
    HeaderRules h;
    load_headers(ctx, val, h);
    out.headers = std::move(h);
  } else if (e.key == "error_pages") {
    std::vector<ErrorPage> pages;
    load_error_pages(ctx, val, pages);
    out.error_pages = std::move(pages);
  } else if (e.key == "intercept_errors") {
    if (auto f = read_bool(ctx, val)) out.intercept_errors = *f;
  } else if (e.key == "access") {
    load_section(ctx, val, out.access, load_access);
  } else if (e.key == "basic_auth") {
    load_section(ctx, val, out.basic_auth, load_basic_auth);
  } else if (e.key == "compress") {
    load_section(ctx, val, out.compress, load_compress);
  } else if (e.key == "rate_limit") {
    load_section(ctx, val, out.rate_limit, load_rate_limit);
  } else if (e.key == "cache") {
    load_section(ctx, val, out.cache, load_cache);
  } else if (e.key == "forward_auth") {
    load_section(ctx, val, out.forward_auth, load_forward_auth);
  } else if (e.key == "jwt") {
    load_section(ctx, val, out.jwt, load_jwt);
  } else if (e.key == "waf") {
    load_section(ctx, val, out.waf, load_waf);
  } else {
    return false;
  }
  return true;
}

}  // namespace gh::config::detail

namespace gh::config {

Policies effective_policies(const Policies& server, const Policies& route) {
  Policies p;
  p.server_header = route.server_header ? route.server_header : server.server_header;
  p.obfuscate = route.obfuscate ? route.obfuscate : server.obfuscate;
  p.headers = route.headers ? route.headers : server.headers;
  p.error_pages = route.error_pages ? route.error_pages : server.error_pages;
  p.intercept_errors = route.intercept_errors ? route.intercept_errors : server.intercept_errors;
  p.access = route.access ? route.access : server.access;
  p.basic_auth = route.basic_auth ? route.basic_auth : server.basic_auth;
  p.compress = route.compress ? route.compress : server.compress;
  p.cache = route.cache ? route.cache : server.cache;
  p.rate_limit = route.rate_limit ? route.rate_limit : server.rate_limit;
  p.forward_auth = route.forward_auth ? route.forward_auth : server.forward_auth;
  p.jwt = route.jwt ? route.jwt : server.jwt;
  p.waf = route.waf ? route.waf : server.waf;
  return p;
}

}  // namespace gh::config
