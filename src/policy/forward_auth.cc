// forward_auth: each request is first asked about at an auth service
// (Authelia, oauth2-proxy, Authentik ...) with `GET url` carrying the
// client's credentials (Cookie, Authorization) and where the request was
// going (X-Forwarded-*). A 2xx lets it through with the answer's
// copy_headers on the upstream request; any other answer goes back to the
// client as the auth service made it (its login redirect, its 401). The
// sub-request goes over upstream/sub_request.h: a pooled keep-alive
// connection per worker, one timeout over lookup, connect and response.
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/log.h"
#include "http/connection_tokens.h"
#include "net/deadlines.h"
#include "policy/kinds.h"
#include "policy/worker_upkeep.h"
#include "upstream/sub_request.h"

namespace gh::policy {
namespace {

std::atomic<uint64_t> g_next_forward_auth_id{1};

// Per worker thread: the auth service of each forward_auth policy (by id,
// never reused), with its pool of idle connections. A policy gone with its
// config snapshot leaves `alive` false; its entry (and connections) are
// dropped on this thread by the next sweep.
struct WorkerOrigin {
  std::shared_ptr<upstream::SubOrigin> origin;
  std::shared_ptr<const std::atomic<bool>> alive;
};
thread_local std::unordered_map<uint64_t, WorkerOrigin> tl_origins;
thread_local int64_t tl_swept_ms = 0;
constexpr int64_t kSweepMs = 1'000;

// Drops this thread's pools of policies that are gone and closes idle
// connections past their idle timeout, at most every kSweepMs.
void sweep_origins(int64_t now) {
  if (tl_origins.empty() || now - tl_swept_ms < kSweepMs) return;
  tl_swept_ms = now;
  std::erase_if(tl_origins, [](const auto& kv) { return !kv.second.alive->load(std::memory_order_relaxed); });
  for (auto& [id, w] : tl_origins) w.origin->pool.expire(now);
}

// Fields of the auth service's answer that never reach the client: they
// frame the message or belong to the auth service's connection (RFC 9110
// 7.6.1), or gatehouse states them itself (Date, Server, Content-Type and
// Content-Length of the relayed body, Proxy-Status).
bool dropped_from_answer(std::string_view name, const http::ConnectionTokens& connection) {
  static constexpr std::string_view kDropped[] = {
      "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
      "trailer", "content-length", "date", "server", "content-type", "proxy-status"};
  for (std::string_view d : kDropped)
    if (http::iequals(name, d)) return true;
  return connection.has(name);   // named by Connection: hop-by-hop too
}

class ForwardAuth final : public Policy {
 public:
  explicit ForwardAuth(const config::ForwardAuth& c)
      : conf_(c), id_(g_next_forward_auth_id++), alive_(std::make_shared<std::atomic<bool>>(true)) {
    if (conf_.tls) {
      // The auth service is verified against the system's trust store.
      std::string err;
      tls_ = tls::ClientContext::create(config::UpstreamTls{}, err);
      if (!tls_) tls_error_ = "TLS to the auth service is unavailable: " + err;
    }
  }
  ~ForwardAuth() override { alive_->store(false, std::memory_order_relaxed); }

  const char* name() const override { return "forward_auth"; }
  bool acts_on_request() const override { return true; }
  Verdict on_request(Exchange&) const override { return Verdict::suspend; }

  net::awaitable<Verdict> resume(Exchange& ex) const override {
    if (conf_.tls && !tls_) co_return fail(ex, 503, "proxy_internal_error", tls_error_);
    const net::Executor exec = co_await net::asio::this_coro::executor;
    std::shared_ptr<upstream::SubOrigin> origin = worker_origin(exec.context());
    const std::string request = build_request(*ex.request, ex.client_ip_str, ex.upstream);
    upstream::SubResponse r = co_await upstream::sub_request(origin, request, conf_.timeout);
    if (r.status == 0) {
      GH_WARN("forward_auth %s: %s: %s", origin->backend.name.c_str(), r.error, r.details.c_str());
      co_return fail(ex, r.http_status, r.error, r.details);
    }
    if (r.status >= 200 && r.status < 300) {
      // Client-sent copies go whether or not the answer has the field: a
      // backend must never take a forged Remote-User for the auth service's.
      for (const std::string& name : conf_.copy_headers) ex.upstream.remove(name);
      for (const std::string& name : conf_.copy_headers)
        for (auto& [fname, value] : r.fields)
          if (http::iequals(fname, name)) ex.upstream.append_copy(name, std::move(value));
      co_return Verdict::next;
    }
    Answer a;
    a.status = r.status;
    a.details = "forward_auth: the auth service answered " + std::to_string(r.status);
    http::ConnectionTokens connection;
    for (const auto& [fname, value] : r.fields) {
      if (http::iequals(fname, "connection")) connection.add_list(value);
      if (http::iequals(fname, "content-type")) a.content_type = value;
    }
    for (auto& [fname, value] : r.fields)
      if (!dropped_from_answer(fname, connection)) a.fields.emplace_back(fname, value);
    a.body = std::move(r.body);
    ex.answer = std::move(a);
    co_return Verdict::answered;
  }

 private:
  static Verdict fail(Exchange& ex, int status, const char* error, const std::string& why) {
    Answer a;
    a.status = status;
    a.error = error;
    a.details = "forward_auth: " + why;
    ex.answer = std::move(a);
    return Verdict::answered;
  }

  // This worker's connection pool to the auth service (made on first use).
  std::shared_ptr<upstream::SubOrigin> worker_origin(net::asio::io_context& ctx) const {
    sweep_origins(net::now_ms());
    auto it = tl_origins.find(id_);
    if (it == tl_origins.end()) {
      WorkerOrigin w{std::make_shared<upstream::SubOrigin>(ctx, conf_.host, conf_.port, tls_), alive_};
      it = tl_origins.emplace(id_, std::move(w)).first;
    }
    return it->second.origin;
  }

  // The sub-request's head. Every value comes from a parsed request (no CR,
  // LF or NUL can be in it) or from the validated config.
  std::string build_request(const http::RequestHead& req, std::string_view client_ip,
                            const FieldEdits& upstream_edits) const {
    std::string out;
    out.reserve(512);
    out += "GET ";
    out += conf_.target;
    out += " HTTP/1.1\r\nHost: ";
    out += conf_.host_header;
    out += "\r\n";
    // HTTP/2 clients may split Cookie into several fields (RFC 9113
    // 8.2.3): one line again, joined with "; ".
    bool cookie = false;
    for (const auto& f : req.fields) {
      if (!http::iequals(f.name, "cookie")) continue;
      out += cookie ? "; " : "Cookie: ";
      out += f.value;
      cookie = true;
    }
    if (cookie) out += "\r\n";
    // Authorization, and Accept / X-Requested-With, from which auth
    // services tell a browser (sent to a login page, 302) from an API
    // client (401): Authelia does so.
    // (Not an Authorization an earlier policy consumed: basic_auth's
    // password is for gatehouse, never passed on.)
    const bool auth_consumed = upstream_edits.drops("authorization");
    for (const auto& f : req.fields) {
      if ((http::iequals(f.name, "authorization") && !auth_consumed) || http::iequals(f.name, "accept") ||
          http::iequals(f.name, "x-requested-with")) {
        out += f.name;
        out += ": ";
        out += f.value;
        out += "\r\n";
      }
    }
    out += "X-Forwarded-Method: ";
    out += req.method;
    out += "\r\nX-Forwarded-Proto: ";
    out += req.scheme;
    if (!req.authority.empty()) {
      out += "\r\nX-Forwarded-Host: ";
      out += req.authority;
    }
    out += "\r\nX-Forwarded-Uri: ";
    out += req.path;
    if (!client_ip.empty()) {
      out += "\r\nX-Forwarded-For: ";
      out += client_ip;
    }
    out += "\r\nUser-Agent: gatehouse-forward-auth\r\n\r\n";
    return out;
  }

  config::ForwardAuth conf_;
  uint64_t id_;
  std::shared_ptr<std::atomic<bool>> alive_;
  std::shared_ptr<tls::ClientContext> tls_;
  std::string tls_error_;
};

}  // namespace

void worker_upkeep(int64_t now_ms) { sweep_origins(now_ms); }

std::unique_ptr<Policy> make_forward_auth(const config::ForwardAuth& conf) {
  return std::make_unique<ForwardAuth>(conf);
}

}  // namespace gh::policy
