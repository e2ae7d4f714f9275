#include <sys/stat.h>

#include <cstdio>

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
    }
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

}  // namespace gh::config::detail
