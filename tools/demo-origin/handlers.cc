#include "handlers.h"

// GCC 12 flags Asio's coroutine frame recycling as a new/delete mismatch; it
// is a known false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "text.h"
#include "util.h"
#include "websocket.h"

namespace demo {

namespace {

constexpr size_t kBlock = 64 * 1024;
constexpr std::string_view kBodyAlphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
static_assert(kBlock % kBodyAlphabet.size() == 0, "blocks must continue the pattern");
constexpr uint64_t kMaxStreamBytes = 100ull << 30;  // 100 GiB
constexpr uint64_t kMaxSleepMs = 10 * 60 * 1000;
char g_block[kBlock];

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 200;
  std::string content_type = "text/plain";
  HeaderList headers;
  std::string body;
};

bool has_ctl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

// Status line and headers. `keep_alive` says whether the connection stays open.
std::string make_head(const Request& req, int status, const HeaderList& headers, bool keep_alive) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  else if (req.minor == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

asio::awaitable<bool> send(Conn& conn, const Request& req, Reply reply) {
  bool bodyless = reply.status == 204 || reply.status == 304;
  HeaderList headers;
  headers.reserve(reply.headers.size() + 2);
  if (!bodyless) {
    headers.emplace_back("Content-Type", reply.content_type);
    headers.emplace_back("Content-Length", std::to_string(reply.body.size()));
  }
  for (auto& h : reply.headers) headers.push_back(std::move(h));
  std::string out = make_head(req, reply.status, headers, req.keep_alive);
  if (!bodyless && !req.is_head()) out += reply.body;
  co_return co_await conn.write(out) && req.keep_alive;
}

std::string echo_json(const Conn& conn, const Request& req, uint64_t body_bytes) {
  // Lower-cased names in first-seen order; repeats joined with ", ".
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& h : req.headers) {
    std::string name = lower(h.name);
    auto it = std::find_if(fields.begin(), fields.end(),
                           [&](const auto& f) { return f.first == name; });
    if (it == fields.end()) {
      fields.emplace_back(std::move(name), h.value);
    } else {
      it->second += ", ";
      it->second += h.value;
    }
  }
  std::string out = "{\"instance\": ";
  json_quote(out, conn.settings().name);
  out += ", \"method\": ";
  json_quote(out, req.method);
  out += ", \"path\": ";
  json_quote(out, req.target);
  out += ", \"headers\": {";
  bool first = true;
  for (const auto& [name, value] : fields) {
    if (!first) out += ", ";
    first = false;
    json_quote(out, name);
    out += ": ";
    json_quote(out, value);
  }
  out += "}, \"body_bytes\": ";
  out += std::to_string(body_bytes);
  out += ", \"remote\": ";
  json_quote(out, conn.remote());
  out += "}\n";
  return out;
}

Reply text_reply(int status, std::string body, HeaderList headers = {}) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Reply json_reply(std::string body) {
  Reply r;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

// /bytes/N and /chunked/N: N pattern bytes in 64 KiB writes, never allocated.
asio::awaitable<bool> send_stream(Conn& conn, const Request& req, uint64_t n, bool chunked) {
  bool keep_alive = req.keep_alive;
  HeaderList headers{{"Content-Type", "application/octet-stream"}};
  bool close_delimited = false;
  if (chunked && req.minor == 0) {
    // HTTP/1.0 cannot take chunked coding: the body ends at connection close.
    chunked = false;
    close_delimited = true;
    keep_alive = false;
  }
  if (chunked) headers.emplace_back("Transfer-Encoding", "chunked");
  else if (!close_delimited) headers.emplace_back("Content-Length", std::to_string(n));
  std::string head = make_head(req, 200, headers, keep_alive);
  if (req.is_head()) co_return co_await conn.write(head) && keep_alive;

  // The first write carries the head too, saving a syscall on small bodies.
  bool first = true;
  uint64_t left = n;
  char size_line[32];
  while (left > 0) {
    size_t k = size_t(std::min<uint64_t>(left, kBlock));
    std::array<asio::const_buffer, 4> bufs;
    size_t nb = 0;
    if (first) bufs[nb++] = asio::buffer(head);
    if (chunked) {
      int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", k);
      bufs[nb++] = asio::buffer(size_line, size_t(len));
    }
    bufs[nb++] = asio::buffer(g_block, k);
    if (chunked) bufs[nb++] = asio::buffer("\r\n", 2);
    if (!co_await conn.write_buffers(std::span(bufs.data(), nb))) co_return false;
    first = false;
    left -= k;
  }
  std::string tail = first ? head : std::string();
  if (chunked) tail += "0\r\n\r\n";
  if (!tail.empty() && !co_await conn.write(tail)) co_return false;
  co_return keep_alive;
}

// /text/N: the first N bytes of TextGen's HTML-like document, generated
// into one 64 KiB block per response and sent in 64 KiB writes, so that N
// is never allocated at once.
asio::awaitable<bool> send_text(Conn& conn, const Request& req, uint64_t n) {
  HeaderList headers{{"Content-Type", "text/html; charset=utf-8"},
                     {"Content-Length", std::to_string(n)}};
  std::string head = make_head(req, 200, headers, req.keep_alive);
  if (req.is_head() || n == 0) co_return co_await conn.write(head) && req.keep_alive;
  TextGen gen;
  std::unique_ptr<char[]> block(new char[size_t(std::min<uint64_t>(n, kBlock))]);
  bool first = true;
  for (uint64_t left = n; left > 0;) {
    size_t k = size_t(std::min<uint64_t>(left, kBlock));
    gen.fill(block.get(), k);
    std::array<asio::const_buffer, 2> bufs;
    size_t nb = 0;
    if (first) bufs[nb++] = asio::buffer(head);
    bufs[nb++] = asio::buffer(block.get(), k);
    if (!co_await conn.write_buffers(std::span(bufs.data(), nb))) co_return false;
    first = false;
    left -= k;
  }
  co_return req.keep_alive;
}

// "/prefix/<digits>" -> the number, when path has that form.
std::optional<uint64_t> numeric_suffix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  return parse_u64(path.substr(prefix.size()));
}

bool is_websocket_path(std::string_view path) {
  return path == "/ws" || path.starts_with("/ws/");
}

}  // namespace

void init_body_block() {
  for (size_t i = 0; i < kBlock; ++i) g_block[i] = kBodyAlphabet[i % kBodyAlphabet.size()];
}

asio::awaitable<bool> handle(Conn& conn, Request& req) {
  const std::string_view path = req.path();

  const std::string* upgrade = req.find("upgrade");
  if (req.method == "GET" && upgrade && has_token(*upgrade, "websocket") &&
      is_websocket_path(path)) {
    const std::string* key = req.find("sec-websocket-key");
    if (!key || !valid_websocket_key(*key) || req.has_body()) {
      co_await conn.send_error(400, "bad websocket handshake\n");
      co_return false;
    }
    co_await run_websocket(conn, req);
    co_return false;
  }

  if (req.expect_continue && req.has_body() && req.minor >= 1) {
    if (!co_await conn.write("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
  }

  const bool upload = path == "/upload" && (req.method == "POST" || req.method == "PUT");
  Sha256 sha;
  Conn::Sink sink;
  if (upload) sink = [&sha](const char* p, size_t n) { sha.update(p, n); };
  uint64_t body_bytes = 0;
  switch (co_await conn.read_body(req, sink, body_bytes)) {
    case BodyStatus::ok: break;
    case BodyStatus::bad: co_await conn.send_error(400, "bad request body\n"); co_return false;
    case BodyStatus::io_error: co_return false;
  }

  if (upload) {
    std::string out = "{\"instance\": ";
    json_quote(out, conn.settings().name);
    out += ", \"body_bytes\": " + std::to_string(body_bytes) + ", \"sha256\": \"" + sha.hex() +
           "\"}\n";
    co_return co_await send(conn, req, json_reply(std::move(out)));
  }
  if (path == "/small") {
    co_return co_await send(conn, req, text_reply(200, "hello, world\n"));
  }
  if (path == "/healthz") {
    co_return co_await send(conn, req, text_reply(200, "ok"));
  }
  if (path.starts_with("/bytes/") || path.starts_with("/chunked/")) {
    bool chunked = path.starts_with("/chunked/");
    auto n = numeric_suffix(path, chunked ? "/chunked/" : "/bytes/");
    if (!n || *n > kMaxStreamBytes)
      co_return co_await send(conn, req, text_reply(400, "bad size\n"));
    co_return co_await send_stream(conn, req, *n, chunked);
  }
  if (path.starts_with("/text/")) {
    auto n = numeric_suffix(path, "/text/");
    if (!n || *n > kMaxStreamBytes)
      co_return co_await send(conn, req, text_reply(400, "bad size\n"));
    co_return co_await send_text(conn, req, *n);
  }
  if (path.starts_with("/status/")) {
    auto code = numeric_suffix(path, "/status/");
    if (!code || *code < 200 || *code > 599)
      co_return co_await send(conn, req, text_reply(400, "bad status\n"));
    int status = int(*code);
    co_return co_await send(conn, req,
                            text_reply(status, "status " + std::to_string(status) + "\n"));
  }
  if (path == "/redirect") {
    auto to = query_values(req.query(), "to");
    auto code_param = query_values(req.query(), "code");
    int status = 302;
    if (!code_param.empty()) {
      auto c = parse_u64(code_param[0]);
      if (c && (*c == 301 || *c == 302 || *c == 303 || *c == 307 || *c == 308)) status = int(*c);
    }
    if (to.empty() || to[0].empty() || has_ctl(to[0]))
      co_return co_await send(conn, req, text_reply(400, "need ?to=URL\n"));
    // Built outside the co_await: GCC 12 rejects an initializer_list temporary there.
    HeaderList location;
    location.emplace_back("Location", to[0]);
    co_return co_await send(conn, req,
                            text_reply(status, "redirecting to " + to[0] + "\n", std::move(location)));
  }
  if (path == "/cookie") {
    Reply r = json_reply(echo_json(conn, req, body_bytes));
    for (auto& v : query_values(req.query(), "v")) {
      if (v.empty() || has_ctl(v))
        co_return co_await send(conn, req, text_reply(400, "bad cookie\n"));
      r.headers.emplace_back("Set-Cookie", std::move(v));
    }
    co_return co_await send(conn, req, std::move(r));
  }
  if (path.starts_with("/sleep/")) {
    auto ms = numeric_suffix(path, "/sleep/");
    if (!ms || *ms > kMaxSleepMs)
      co_return co_await send(conn, req, text_reply(400, "bad duration\n"));
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(*ms));
    co_await timer.async_wait(use_tuple);
  }
  co_return co_await send(conn, req, json_reply(echo_json(conn, req, body_bytes)));
}

}  // namespace demo
