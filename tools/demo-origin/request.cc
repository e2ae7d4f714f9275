#include "request.h"

#include "util.h"

namespace demo {

namespace {
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values may hold visible chars, SP, HTAB and obs-text; no other CTLs.
bool valid_value(std::string_view s) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7F) return false;
  }
  return true;
}

bool valid_target(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  return true;
}
}  // namespace

const std::string* Request::find(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::string_view Request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

bool parse_head(std::string_view head, Request& req) {
  // Bare CR or LF anywhere would let lines be split two ways: refuse.
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) return false;
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return false;
    if (head[i] == '\0') return false;
  }

  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);

  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return false;
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (!is_token(method) || !valid_target(target)) return false;
  if (version == "HTTP/1.1") req.minor = 1;
  else if (version == "HTTP/1.0") req.minor = 0;
  else return false;
  req.method = method;
  req.target = target;

  bool have_cl = false, have_te = false, close = false, keep_alive = false;
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    if (line.empty()) return false;  // a blank line inside the head
    if (line[0] == ' ' || line[0] == '\t') return false;  // obs-fold
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    auto name = line.substr(0, colon);
    auto value = trim(line.substr(colon + 1));
    if (!is_token(name) || !valid_value(value)) return false;

    if (iequals(name, "content-length")) {
      auto v = parse_u64(value);
      if (!v || (have_cl && *v != req.content_length)) return false;
      have_cl = true;
      req.content_length = *v;
    } else if (iequals(name, "transfer-encoding")) {
      // Only a single "chunked" coding is understood; anything else is refused.
      if (have_te || !iequals(value, "chunked")) return false;
      have_te = true;
      req.chunked = true;
    } else if (iequals(name, "connection")) {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    } else if (iequals(name, "expect")) {
      req.expect_continue = iequals(value, "100-continue");
    }
    req.headers.push_back(Header{std::string(name), std::string(value)});
  }
  if (have_cl && have_te) return false;
  req.keep_alive = req.minor >= 1 ? !close : (keep_alive && !close);
  return true;
}

}  // namespace demo
