#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <filesystem>

#include "config/address.h"
#include "core/cidr.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {
namespace {

// ticket_key_file: must exist when TLS is on (its content is checked by
// tls::validate); keys anyone but the owner (and the group, reading) may
// touch could let them forge or read other clients' sessions.
void load_ticket_key_file(Ctx& ctx, const Value& v, bool check_file, Ssl& out) {
  out.ticket_key_file_mark = to_mark(v.mark);
  auto p = read_file_path(ctx, v, check_file);
  if (!p) return;
  out.ticket_key_file = *p;
  struct stat st {};
  if (check_file && ::stat(p->c_str(), &st) == 0 && (st.st_mode & 0037) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    ctx.warn(v.mark, "ticket_key_file " + *p + " has mode " + mode +
                         "; session-ticket keys should be readable by the owner only "
                         "(chmod 600, or 640 for a group)");
  }
}

// One certificates entry: both files, always required and readable when TLS is on.
std::optional<CertPair> load_cert_pair(Ctx& ctx, const Value& v, bool check_files) {
  if (!v.node.IsMap()) {
    ctx.error(v.mark, v.name + " must be a map with cert_file and key_file, got " + kind_of(v.node));
    return std::nullopt;
  }
  CertPair pair;
  pair.mark = to_mark(v.mark);
  bool have_cert = false, have_key = false, ok = true;
  for (const Entry& e : map_entries(ctx, v, "ssl.certificates entry", keys::kCertPair)) {
    auto p = read_file_path(ctx, e.value, check_files);
    ok = ok && p.has_value();
    if (e.key == "cert_file") {
      have_cert = true;
      if (p) pair.cert_file = *p;
    } else {
      have_key = true;
      if (p) pair.key_file = *p;
    }
  }
  if (!have_cert) ctx.error(v.mark, "a certificates entry needs 'cert_file'");
  if (!have_key) ctx.error(v.mark, "a certificates entry needs 'key_file'");
  if (!ok || !have_cert || !have_key) return std::nullopt;
  return pair;
}

// Whether the manager could make directory `path` (and write there): the
// nearest existing ancestor must be a directory it can create entries in.
// Probed by making and removing a directory, since access(2) says yes to
// root even where the kernel refuses (/proc, a read-only mount).
bool storage_creatable(const std::string& path, std::string& why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::path(path).lexically_normal();
  while (!fs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  if (!fs::is_directory(p, ec)) {
    why = p.string() + " is not a directory";
    return false;
  }
  std::string probe = (p / ".gatehouse-probe-XXXXXX").string();
  if (::mkdtemp(probe.data()) == nullptr) {
    why = "cannot create a directory in " + p.string() + " (" + std::strerror(errno) + ")";
    return false;
  }
  ::rmdir(probe.c_str());
  return true;
}

// An ACME name: a DNS name the HTTP-01 and TLS-ALPN-01 challenges can prove,
// so neither a wildcard (RFC 8555 7.1.3: DNS-01 only) nor an IP address.
std::optional<std::string> acme_domain(std::string_view text, std::string& why) {
  auto d = parse_domain(text, why);
  if (!d) return std::nullopt;
  if (d->starts_with("*.")) {
    why = "a wildcard needs the DNS-01 challenge, which gatehouse does not answer; list the names";
    return std::nullopt;
  }
  if (d->find('.') == std::string::npos || core::parse_ip(*d)) {
    why = "ACME certificates are for DNS names with a dot (not an IP address or a bare label)";
    return std::nullopt;
  }
  return d;
}

// ssl.acme (CONTRACT "L4 streams, PROXY protocol, ACME"). Without `domains`,
// every exact name of the routes' domains (wildcards and IP addresses left
// out); none at all is an error, since there would be nothing to order.
void load_acme(Ctx& ctx, const Value& v, const Server& server, Acme& out) {
  out.mark = to_mark(v.mark);
  bool have_domains = false, have_directory = false;
  for (const Entry& e : map_entries(ctx, v, "ssl.acme", keys::kAcme)) {
    const Value& val = e.value;
    if (e.key == "email") {
      auto s = read_string(ctx, val);
      if (!s) continue;
      size_t at = s->find('@');
      if (at == 0 || at == std::string::npos || at + 1 == s->size() ||
          s->find_first_of(" ,<>\"") != std::string::npos) {
        ctx.error(val.mark, "acme 'email' " + shown(*s) + " is not an e-mail address");
        continue;
      }
      out.email = *s;
    } else if (e.key == "directory") {
      have_directory = true;
      auto s = read_string(ctx, val);
      if (!s) continue;
      // RFC 8555 6.1: the ACME server is reached over HTTPS only.
      if (!s->starts_with("https://") || s->size() <= 8) {
        ctx.error(val.mark, "acme 'directory' must be an https:// URL, got " + shown(*s));
        continue;
      }
      out.directory = *s;
    } else if (e.key == "domains") {
      have_domains = true;
      for (const Value& item : list_items(ctx, val)) {
        auto s = read_string(ctx, item);
        if (!s) continue;
        std::string why;
        auto d = acme_domain(*s, why);
        if (!d) {
          ctx.error(item.mark, "acme domain " + shown(*s) + ": " + why);
          continue;
        }
        auto it = std::find(out.domains.begin(), out.domains.end(), *d);
        if (it != out.domains.end()) {
          // Names are case-insensitive (RFC 4343): one order covers both.
          const YAML::Mark& first = ctx.acme_domain_marks[static_cast<size_t>(it - out.domains.begin())];
          ctx.warn(item.mark, "acme domain " + shown(*s) + " is already listed (line " +
                                  std::to_string(to_mark(first).line) + "); it is ordered once");
          continue;
        }
        out.domains.push_back(*d);
        ctx.acme_domain_marks.push_back(item.mark);
      }
      if (out.domains.empty() && val.node.IsSequence() && val.node.size() == 0)
        ctx.error(val.mark, "acme 'domains' is empty; list names or leave it out to take the "
                            "routes' domains");
    } else if (e.key == "storage") {
      if (auto p = read_file_path(ctx, val, false)) {
        out.storage = *p;
        std::string why;
        if (!storage_creatable(*p, why)) ctx.error(val.mark, "acme 'storage' " + *p + ": " + why);
      }
    } else if (e.key == "ca_file") {
      if (auto p = read_file_path(ctx, val, true)) out.ca_file = *p;
    }
  }
  if (!have_directory) ctx.error(v.mark, "ssl.acme needs 'directory' (the CA's ACME directory URL)");
  if (out.storage.empty()) out.storage = (ctx.base_dir / "acme").lexically_normal().string();
  if (have_domains) return;
  ctx.acme_defaulted = v.mark;
  std::string why;
  for (const Route& r : server.reverse_proxy) {
    for (const std::string& d : r.domains) {
      auto name = acme_domain(d, why);
      if (name && std::find(out.domains.begin(), out.domains.end(), *name) == out.domains.end())
        out.domains.push_back(*name);
    }
  }
  // "no names" is decided by finish_acme, once sni streams are known.
}

}  // namespace

void load_ssl(Ctx& ctx, const Value& v, const Server& server, Ssl& out) {
  out.mark = to_mark(v.mark);
  std::vector<Entry> entries = map_entries(ctx, v, "ssl", keys::kSsl);
  // `enabled` decides whether the files must exist, so read it first.
  for (const Entry& e : entries) {
    if (e.key == "enabled") {
      if (auto f = read_bool(ctx, e.value)) out.enabled = *f;
    }
  }
  bool port_given = false;
  for (const Entry& e : entries) port_given = port_given || e.key == "port";
  const Entry* cert = nullptr;
  const Entry* key = nullptr;
  for (const Entry& e : entries) {
    const Value& val = e.value;
    if (e.key == "port") {
      auto p = read_port(ctx, val);
      if (!p) continue;
      out.port = *p;
      if (out.enabled && *p == server.port) {
        ctx.error(val.mark, "ssl 'port' " + std::to_string(*p) +
                                " is the same as server 'port'; leave ssl 'port' out to speak TLS "
                                "on server.port, or choose another");
      }
    } else if (e.key == "cert_file") {
      cert = &e;
      if (auto p = read_file_path(ctx, val, out.enabled)) out.cert_file = *p;
    } else if (e.key == "key_file") {
      key = &e;
      if (auto p = read_file_path(ctx, val, out.enabled)) out.key_file = *p;
    } else if (e.key == "certificates") {
      for (const Value& item : list_items(ctx, val)) {
        Value iv = item;
        iv.name = "an ssl.certificates entry";
        if (auto pair = load_cert_pair(ctx, iv, out.enabled)) out.certificates.push_back(*pair);
      }
    } else if (e.key == "redirect_http") {
      auto f = read_bool(ctx, val);
      if (!f) continue;
      out.redirect_http = *f;
      if (*f && !out.enabled) {
        // Like the file paths: a disabled ssl block may keep its settings.
        ctx.warn(val.mark, "'redirect_http' has no effect while ssl is not enabled");
      } else if (*f && !port_given) {
        ctx.error(val.mark, "'redirect_http' needs a separate ssl 'port' (server.port then "
                            "answers with redirects)");
      }
    } else if (e.key == "hsts") {
      if (auto d = read_duration(ctx, val, Duration(0))) out.hsts = *d;
    } else if (e.key == "ticket_key_file") {
      load_ticket_key_file(ctx, val, out.enabled, out);
    } else if (e.key == "acme") {
      if (!val.node.IsMap() && !val.node.IsNull()) {
        ctx.error(val.mark, "ssl 'acme' must be a map, got " + std::string(kind_of(val.node)));
        out.acme.emplace();   // (not also "cert_file is missing")
        continue;
      }
      load_acme(ctx, val, server, out.acme.emplace());
      if (!out.enabled) ctx.warn(val.mark, "'acme' has no effect while ssl is not enabled");
    }
  }
  if (out.enabled && out.acme && !cert && !key) {
    // Until the CA issues, the first certificates entry or, without one, a
    // self-signed placeholder made in memory (tls/server_context.h) serves.
    if (!out.certificates.empty()) {
      out.cert_file = out.certificates.front().cert_file;
      out.key_file = out.certificates.front().key_file;
      out.certificates.erase(out.certificates.begin());
    }
    return;
  }
  if (out.enabled) {
    if (!cert && !key && !out.certificates.empty()) {
      // Only a certificates list: its first entry is the default certificate
      // (the one for clients without SNI or with an unknown name).
      out.cert_file = out.certificates.front().cert_file;
      out.key_file = out.certificates.front().key_file;
      out.certificates.erase(out.certificates.begin());
      return;
    }
    if (!cert) ctx.error(v.mark, "ssl is enabled but 'cert_file' is missing");
    if (!key) ctx.error(v.mark, "ssl is enabled but 'key_file' is missing");
  }
}

namespace {

// Whether an sni stream name ("a.test" or "*.a.test", one label) matches `name`.
bool sni_matches(const std::string& pattern, const std::string& name) {
  if (!pattern.starts_with("*.")) return pattern == name;
  size_t dot = name.find('.');
  return dot != std::string::npos && dot > 0 && std::string_view(name).substr(dot + 1) == std::string_view(pattern).substr(2);
}

const StreamRoute* passing_through(const Config& cfg, const std::string& name) {
  for (const StreamRoute& s : cfg.streams)
    for (const std::string& p : s.sni)
      if (sni_matches(p, name)) return &s;
  return nullptr;
}

}  // namespace

void finish_acme(Ctx& ctx, Config& cfg) {
  if (!cfg.ssl.acme) return;
  Acme& a = *cfg.ssl.acme;
  std::vector<std::string> kept;
  for (size_t i = 0; i < a.domains.size(); ++i) {
    const StreamRoute* s = passing_through(cfg, a.domains[i]);
    if (!s) {
      kept.push_back(a.domains[i]);
    } else if (!ctx.acme_defaulted && i < ctx.acme_domain_marks.size()) {
      ctx.error(ctx.acme_domain_marks[i],
                "acme domain " + shown(a.domains[i]) + " is passed through by the sni stream at " +
                    std::to_string(s->mark.line) + ":" + std::to_string(s->mark.col) +
                    "; its certificate could never be served");
    }
  }
  a.domains = std::move(kept);
  if (ctx.acme_defaulted && a.domains.empty())
    ctx.error(*ctx.acme_defaulted, "ssl.acme has no names: list them in 'domains', or give routes "
                                   "exact 'domains' (wildcards, IP addresses and names sni streams "
                                   "pass through cannot be ordered)");
}

}  // namespace gh::config::detail
