#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/address.h"
#include "config/keys.h"
#include "config/sections.h"

namespace gh::config::detail {
namespace {

constexpr size_t kMaxToken = 4096;   // bytes; a bearer token is tens of bytes

// The admin bearer token: the file's content with surrounding whitespace
// (a trailing newline) trimmed. Refuses an unreadable or empty file, and a
// token with whitespace or control bytes inside (it could not be sent in one
// Authorization field, RFC 6750 section 2.1). Warns when the file is
// readable by group or others: the token is a password.
std::optional<std::string> read_token(Ctx& ctx, const Value& v, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": " + std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  std::string text(kMaxToken + 64, '\0');
  size_t have = 0;
  bool failed = ::fstat(fd, &st) != 0;
  while (!failed && have < text.size()) {
    ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed = true;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  if (failed) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": cannot be read");
    return std::nullopt;
  }
  text.resize(have);
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  size_t b = 0, e = text.size();
  while (b < e && space(text[b])) ++b;
  while (e > b && space(text[e - 1])) --e;
  std::string token = text.substr(b, e - b);
  if (token.empty()) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + " is empty: it must hold the token "
                      "(e.g. made with `openssl rand -hex 32`)");
    return std::nullopt;
  }
  if (token.size() > kMaxToken) {
    ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": the token is longer than " +
                          std::to_string(kMaxToken) + " bytes");
    return std::nullopt;
  }
  for (unsigned char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      ctx.error(v.mark, v.name + " " + shown(path, 4096) + ": the token must be one word of "
                        "printable ASCII (no spaces, line breaks or control bytes inside)");
      return std::nullopt;
    }
  }
  if (st.st_mode & (S_IRGRP | S_IROTH)) {
    ctx.warn(v.mark, v.name + " " + shown(path, 4096) + " is readable by group or others "
                     "(chmod 600 it: the token is a password)");
  }
  return token;
}

}  // namespace

void load_admin(Ctx& ctx, const Value& v, const Server& server, const Ssl& ssl, Admin& out) {
  std::optional<YAML::Mark> port_mark;
  for (const Entry& e : map_entries(ctx, v, "admin", keys::kAdmin)) {
    const Value& val = e.value;
    if (e.key == "enabled") {
      if (auto f = read_bool(ctx, val)) out.enabled = *f;
    } else if (e.key == "host") {
      auto s = read_string(ctx, val);
      if (!s) continue;
      std::string why;
      if (auto h = parse_host(*s, why)) out.host = *h;
      else ctx.error(val.mark, "admin 'host' " + shown(*s) + ": " + why);
    } else if (e.key == "port") {
      if (auto p = read_port(ctx, val)) {
        out.port = *p;
        port_mark = val.mark;
      }
    } else if (e.key == "token_file") {
      Value named = val;
      named.name = "admin 'token_file'";
      auto path = read_file_path(ctx, named, true);
      if (!path) continue;
      if (auto t = read_token(ctx, named, *path)) {
        out.token_file = *path;
        out.token = std::move(*t);
      }
    }
  }
  if (!out.enabled) return;
  // Two listeners on one address and port cannot both work; on one port but
  // different addresses (admin on 127.0.0.1, the proxy on a public one) they do.
  YAML::Mark at = port_mark ? *port_mark : v.mark;
  if (!addresses_overlap(out.host, server.host)) return;
  if (out.port == server.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already server 'port' on " +
                      server.host);
  } else if (ssl.enabled && ssl.port && out.port == *ssl.port) {
    ctx.error(at, "admin 'port' " + std::to_string(out.port) + " is already ssl 'port' on " +
                      server.host);
  }
}

}  // namespace gh::config::detail
