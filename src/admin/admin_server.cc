#include "admin/admin_server.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <algorithm>
#include <exception>

#include <cctype>

#include "admin/dashboard.h"
#include "admin/json.h"
#include "http/exchange.h"
#include "admin/metrics_text.h"
#include "http/path.h"
#include "http/status.h"
#include "http1/parser.h"

namespace gh::admin {

using namespace gh::net;
using Clock = std::chrono::steady_clock;

namespace {

bool clean_field(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 ? c != '\t' : c == 0x7f) return false;
  return true;
}

// RFC 9110 token: what a field name may hold.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                  std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string serialize(const Response& r, bool head_only, bool close, int version_minor) {
  int status = r.status >= 200 && r.status <= 599 ? r.status : 500;
  const char* reason = http::reason_phrase(status);
  std::string out;
  out.reserve(256 + (head_only ? 0 : r.body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += *reason ? reason : "Unknown";
  out += "\r\nDate: ";
  out += http::http_date();
  out += "\r\nContent-Type: ";
  out += clean_field(r.content_type) ? r.content_type : "application/octet-stream";
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : r.headers) {
    // A field that could split the head is dropped, not sent.
    if (!is_token(name) || !clean_field(value)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (close) out += "Connection: close\r\n";
  else if (version_minor == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

Response error_response(int status, const char* detail) {
  Response r;
  r.status = status;
  r.body = std::string(detail) + "\n";
  return r;
}

// What the session tells its watchdog: when to give up, and whether it is
// between requests (only then may a shutdown close the connection).
struct Watch {
  Clock::time_point deadline;
  bool idle = true;
};

bool stopping(const ServeOptions& opt) {
  return opt.stop && opt.stop->load(std::memory_order_relaxed);
}

// Ends when the deadline (which the session moves) has passed, or when a
// shutdown finds the session idle; the `||` in serve_admin then cancels the
// session's pending read or write.
awaitable<void> watchdog(const Watch& w, const ServeOptions& opt) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (;;) {
    auto now = Clock::now();
    if (w.deadline <= now) co_return;
    if (w.idle && stopping(opt)) co_return;
    // A flag cannot wake a timer, so with one to watch, look every 100 ms.
    t.expires_at(opt.stop ? std::min(w.deadline, now + std::chrono::milliseconds(100))
                          : w.deadline);
    auto [ec] = co_await t.async_wait(nothrow);
    if (ec) co_return;  // cancelled: the session is over
  }
}

awaitable<void> session(Stream& s, const Handler& handler, const ServeOptions& opt, Watch& w) {
  std::string buf;
  http1::RequestHead head;
  http1::Limits lim;
  lim.max_head = opt.max_head;
  lim.max_headers = 100;
  for (unsigned served = 0;; ++served) {
    w.idle = buf.empty();
    if (w.idle && stopping(opt)) co_return;
    w.deadline = Clock::now() + (w.idle ? opt.idle_timeout : opt.header_timeout);
    http1::ParseError perr;
    auto st = http1::ParseStatus::incomplete;
    if (!buf.empty()) st = http1::parse_request(buf, head, lim, perr);
    while (st == http1::ParseStatus::incomplete) {
      if (buf.size() > opt.max_head) {
        // The parser says this too; the check keeps the buffer bounded regardless.
        perr.status = 431;
        perr.detail = "request head too large";
        st = http1::ParseStatus::error;
        break;
      }
      size_t have = buf.size();
      buf.resize(have + 2048);
      auto [ec, n] = co_await s.read_some(asio::buffer(buf.data() + have, 2048));
      buf.resize(have + n);
      if (ec || n == 0) co_return;  // closed, reset, or the watchdog fired
      if (have == 0) {
        w.idle = false;
        w.deadline = Clock::now() + opt.header_timeout;
      }
      st = http1::parse_request(buf, head, lim, perr);
    }

    w.idle = false;
    w.deadline = Clock::now() + opt.write_timeout;
    if (st == http1::ParseStatus::error) {
      std::string out = serialize(error_response(perr.status, perr.detail), false, true, 1);
      co_await s.write_all(asio::buffer(out));
      co_return;
    }

    // Authorization is a singleton field (RFC 9110 section 11.6.2): two are
    // ambiguous, so refused rather than guessed between.
    std::string_view authorization;
    int authorizations = 0;
    for (const auto& f : head.headers) {
      if (f.name.size() == 13 && http::iequals(f.name, "authorization")) {
        authorization = f.value;
        ++authorizations;
      }
    }
    if (authorizations > 1) {
      std::string out = serialize(error_response(400, "more than one Authorization field"), false,
                                  true, head.version_minor);
      co_await s.write_all(asio::buffer(out));
      co_return;
    }
    std::string_view path = head.path, query;
    if (auto q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    Response r;
    try {
      r = handler ? handler(head.method, path, query, authorization)
                  : error_response(404, "not found");
    } catch (...) {
      r = error_response(500, "internal error");
    }
    bool has_body = head.body == http1::BodyKind::chunked ||
                    (head.body == http1::BodyKind::content_length && head.content_length > 0);
    bool close =
        !head.keep_alive() || has_body || served + 1 >= opt.max_requests || stopping(opt);
    std::string out = serialize(r, head.method == "HEAD", close, head.version_minor);
    auto [ec, n] = co_await s.write_all(asio::buffer(out));
    if (ec || close) co_return;
    buf.erase(0, head.head_size);
  }
}

}  // namespace

awaitable<void> serve_admin(Stream s, Handler handler, ServeOptions opt) {
  using namespace asio::experimental::awaitable_operators;
  Watch w;
  w.deadline = Clock::now() + opt.idle_timeout;
  try {
    co_await (session(s, handler, opt, w) || watchdog(w, opt));
  } catch (...) {
    // Cancellation or allocation failure: the connection just ends.
  }
  s.close();
}

namespace {

constexpr auto hex_value = http::hex_digit_value;

// application/x-www-form-urlencoded value: %XX decoded, '+' as a space.
std::string form_decode(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
      i += 2;
    } else {
      out += v[i] == '+' ? ' ' : v[i];
    }
  }
  return out;
}

bool starts_nocase(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
  return true;
}

Response purge_response(std::string_view query, const PurgeFn& purge) {
  PurgeRequest pr;
  bool have_url = false, have_route = false;
  while (!query.empty()) {
    if (query.starts_with("url=")) {
      std::string_view v = query.substr(4);   // the rest: a URL's own query needs no escaping
      pr.url = starts_nocase(v, "http%3a") || starts_nocase(v, "https%3a") ? form_decode(v)
                                                                         : std::string(v);
      have_url = true;
      break;
    }
    const size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    if (param.starts_with("route=")) {
      pr.route = form_decode(param.substr(6));
      have_route = true;
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  if (have_url == have_route)
    return error_response(400, "POST /cache/purge needs one of ?url=URL or ?route=PATH");
  if (!purge) return error_response(503, "no cache to purge");
  PurgeResult res = purge(pr);
  Response r;
  r.status = res.status;
  r.content_type = "application/json";
  JsonWriter w(r.body);
  w.begin_object();
  if (res.status == 200) w.member("purged", res.purged);
  else w.member("error", res.error);
  w.end_object();
  r.body += '\n';
  return r;
}

}  // namespace

Handler make_admin_handler(std::function<std::string()> status_json, PurgeFn purge,
                           std::function<std::string()> metrics) {
  return [status_json = std::move(status_json), purge = std::move(purge), metrics = std::move(metrics)](
             std::string_view method, std::string_view path, std::string_view query,
             std::string_view /*authorization: require_token's*/) -> Response {
    if (path == "/cache/purge") {
      if (method != "POST") {
        Response r = error_response(405, "method not allowed");
        r.headers.emplace_back("Allow", "POST");
        return r;
      }
      return purge_response(query, purge);
    }
    bool known = path == "/" || path == "/status" || path == "/healthz" || path == "/metrics";
    if (!known) return error_response(404, "not found");
    if (method != "GET" && method != "HEAD") {
      Response r = error_response(405, "method not allowed");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    if (path == "/") return dashboard_page();
    Response r;
    if (path == "/healthz") {
      r.body = "ok";
      return r;
    }
    if (path == "/metrics") {
      if (!metrics) return error_response(503, "metrics not available");
      r.content_type = kMetricsContentType;
      r.body = metrics();
      return r;
    }
    if (!status_json) return error_response(503, "status not available");
    r.content_type = "application/json";
    r.body = status_json();
    return r;
  };
}

Handler health_follows_drain(Handler inner, std::function<bool()> draining) {
  return [inner = std::move(inner), draining = std::move(draining)](
             std::string_view method, std::string_view path, std::string_view query,
             std::string_view authorization) -> Response {
    if (path == "/healthz" && (method == "GET" || method == "HEAD") && draining && draining()) {
      Response r;
      r.status = 503;
      r.body = "draining";
      return r;
    }
    return inner(method, path, query, authorization);
  };
}

}  // namespace gh::admin
