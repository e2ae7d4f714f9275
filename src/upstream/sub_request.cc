#include "upstream/sub_request.h"

#include <exception>
#include <tuple>

#include "http1/chunked.h"
#include "http1/parser.h"
#include "net/deadlines.h"
#include "net/stream.h"
#include "net/tls_io.h"
#include "upstream/health_probe.h"

namespace gh::upstream {

using namespace gh::net;

SubOrigin::SubOrigin(asio::io_context& ctx, const std::string& host, uint16_t port,
                     std::shared_ptr<tls::ClientContext> t)
    : resolver(ctx), tls(std::move(t)) {
  backend.host = host;
  backend.port = port;
  const bool v6 = host.find(':') != std::string::npos;
  backend.name = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

namespace {

// The state a sub-request shares with its deadline. The steps run as their
// own coroutine so that the deadline can answer while a name lookup (which
// Asio cannot abort) still runs; `abandoned` then tells the steps to stop
// touching anything but their own state.
struct Attempt {
  explicit Attempt(const Executor& e) : ex(e), deadline(e) {}
  Executor ex;
  asio::steady_timer deadline;
  std::unique_ptr<UpConn> conn;
  bool connected = false;   // a connection is open: a timeout now is the response's
  bool finished = false;    // the steps wrote `result`
  bool abandoned = false;   // the deadline answered first
  SubResponse result;
};

SubResponse failed(int http_status, const char* error, std::string details) {
  SubResponse r;
  r.http_status = http_status;
  r.error = error;
  r.details = std::move(details);
  return r;
}

SubResponse too_large(const SubLimits& lim) {
  return failed(502, "http_response_body_size",
                "response body larger than " + std::to_string(lim.max_body) + " bytes");
}

// Name lookup, connect (each address in turn) and TLS into a.conn; a
// response with http_status 0 on success.
awaitable<SubResponse> open_connection(Attempt& a, SubOrigin& o) {
  std::vector<tcp::endpoint> eps;
  error_code ec = co_await o.resolver.resolve(o.backend.host, o.backend.port, eps);
  if (a.abandoned) co_return SubResponse{};
  if (ec) co_return failed(503, "dns_error", "name resolution failed: " + describe_error(ec));
  error_code cec = asio::error::host_not_found;
  for (const auto& ep : eps) {
    a.conn = std::make_unique<UpConn>(Stream(Socket(a.ex)), &o.backend);
    auto [e] = co_await a.conn->stream.socket().async_connect(ep, nothrow);
    if (a.abandoned) co_return SubResponse{};
    cec = e;
    if (!cec) break;
    a.conn.reset();
  }
  if (cec) {
    const char* type = "connection_refused";
    if (cec == asio::error::host_unreachable || cec == asio::error::network_unreachable)
      type = "destination_ip_unroutable";
    else if (cec == asio::error::timed_out)
      type = "connection_timeout";
    co_return failed(503, type, describe_error(cec));
  }
  error_code ignored;
  a.conn->stream.socket().set_option(tcp::no_delay(true), ignored);
  if (!o.tls) co_return SubResponse{};
  SslHandle ssl = new_ssl(o.tls->native_handle(), TlsRole::client);
  if (!ssl || !o.tls->prepare(ssl.get(), o.backend.host, o.backend.port) ||
      !a.conn->stream.start_tls(std::move(ssl))) {
    a.conn.reset();
    co_return failed(503, "tls_protocol_error", "cannot use this host name for TLS");
  }
  error_code hec = co_await a.conn->stream.handshake();
  if (a.abandoned) co_return SubResponse{};
  if (!hec) {
    o.tls->save_session(a.conn->stream.ssl());
    co_return SubResponse{};
  }
  std::string why = tls::ClientContext::verify_error(a.conn->stream.ssl());
  o.tls->forget_session(o.backend.host, o.backend.port);
  a.conn.reset();
  if (!why.empty()) co_return failed(503, "tls_certificate_error", why);
  co_return failed(503, "tls_protocol_error", describe_error(hec));
}

// Reads more bytes into `buf`; false on EOF or error (`ec` says which).
awaitable<bool> read_more(Stream& s, std::string& buf, error_code& ec) {
  const size_t have = buf.size();
  buf.resize(have + 8192);
  auto [rec, n] = co_await s.read_some(asio::buffer(buf.data() + have, 8192));
  buf.resize(have + n);
  ec = rec;
  co_return n > 0 || !rec;
}

// The request on a.conn and its response. `got_bytes`: whether any byte of
// a response came (a pooled connection that fails before that was closed
// by the origin and may be replaced).
awaitable<SubResponse> exchange(Attempt& a, const std::string& request, const SubLimits& lim,
                                bool& got_bytes) {
  got_bytes = false;
  Stream& s = a.conn->stream;
  auto [wec, wn] = co_await s.write_all(asio::buffer(request));
  if (a.abandoned) co_return SubResponse{};
  if (wec) co_return failed(503, "connection_terminated", "sending the request failed: " + describe_error(wec));

  std::string buf;
  http1::ResponseHead head;
  http1::Limits hl;
  hl.max_head = lim.max_head;
  hl.max_headers = lim.max_fields;
  error_code ec;
  for (;;) {
    head.clear();
    http1::ParseError perr;
    auto st = http1::ParseStatus::incomplete;
    if (!buf.empty()) st = http1::parse_response(buf, head, false, hl, perr);
    if (st == http1::ParseStatus::error)
      co_return failed(502, "http_protocol_error", std::string("malformed response: ") + perr.detail);
    if (st == http1::ParseStatus::complete) {
      if (head.status >= 100 && head.status < 200) {
        if (head.status == 101) co_return failed(502, "http_protocol_error", "unexpected 101 response");
        buf.erase(0, head.head_size);   // an interim response: the final one follows
        continue;
      }
      break;
    }
    const bool more = co_await read_more(s, buf, ec);
    if (a.abandoned) co_return SubResponse{};
    if (!buf.empty()) got_bytes = true;
    if (!more) {
      if (ec == asio::error::eof && buf.empty())
        co_return failed(503, "connection_terminated", "connection closed before the response");
      if (ec == asio::error::eof)
        co_return failed(502, "http_response_incomplete", "connection closed in the response head");
      co_return failed(503, "connection_terminated", describe_error(ec));
    }
  }

  SubResponse r;
  r.status = head.status;
  r.fields.reserve(head.headers.size());
  for (const auto& f : head.headers) r.fields.emplace_back(std::string(f.name), std::string(f.value));
  const bool keep_alive = head.keep_alive();
  const http1::BodyKind kind = head.body;
  const uint64_t length = head.content_length;
  buf.erase(0, head.head_size);
  head.clear();   // (its views pointed into the erased bytes)

  bool reusable = keep_alive;
  switch (kind) {
    case http1::BodyKind::none:
      break;
    case http1::BodyKind::content_length: {
      if (length > lim.max_body) co_return too_large(lim);
      while (buf.size() < length) {
        const bool more = co_await read_more(s, buf, ec);
        if (a.abandoned) co_return SubResponse{};
        if (!more) co_return failed(502, "http_response_incomplete", "connection closed in the response body");
      }
      r.body = buf.substr(0, length);
      buf.erase(0, length);
      break;
    }
    case http1::BodyKind::chunked: {
      http1::ChunkedDecoder dec;
      for (;;) {
        auto step = dec.next(buf);
        if (step.error) co_return failed(502, "http_response_transfer_coding", step.detail);
        r.body.append(step.data);
        buf.erase(0, step.consumed);
        if (r.body.size() > lim.max_body) co_return too_large(lim);
        if (step.done) break;
        if (step.consumed > 0) continue;
        const bool more = co_await read_more(s, buf, ec);
        if (a.abandoned) co_return SubResponse{};
        if (!more) co_return failed(502, "http_response_incomplete", "connection closed in the response body");
      }
      break;
    }
    case http1::BodyKind::until_close: {
      reusable = false;
      for (;;) {
        if (buf.size() > lim.max_body) co_return too_large(lim);
        const bool more = co_await read_more(s, buf, ec);
        if (a.abandoned) co_return SubResponse{};
        if (!more) break;
      }
      if (ec != asio::error::eof)
        co_return failed(502, "http_response_incomplete", "response body cut: " + describe_error(ec));
      r.body = std::move(buf);
      buf.clear();
      break;
    }
  }
  // Bytes after the response would be taken as the next one's: not reused.
  if (!buf.empty()) reusable = false;
  if (!reusable) a.conn.reset();
  co_return r;
}

awaitable<SubResponse> steps(Attempt& a, SubOrigin& o, const std::string& request, const SubLimits& lim) {
  o.pool.expire(now_ms());
  for (int round = 0;; ++round) {
    a.conn = o.pool.take(&o.backend);
    const bool reused = a.conn != nullptr;
    if (!a.conn) {
      SubResponse f = co_await open_connection(a, o);
      if (a.abandoned) co_return SubResponse{};
      if (f.http_status) co_return f;
    }
    a.connected = true;
    bool got_bytes = false;
    SubResponse r = co_await exchange(a, request, lim, got_bytes);
    if (a.abandoned) co_return SubResponse{};
    if (r.http_status && reused && !got_bytes && round == 0) {
      // A kept-alive connection the origin had closed: once more, fresh.
      a.conn.reset();
      a.connected = false;
      continue;
    }
    r.reused = reused;
    if (a.conn) {
      a.conn->uses++;
      o.pool.put(std::move(a.conn));
    }
    co_return r;
  }
}

awaitable<void> run_steps(std::shared_ptr<Attempt> a, std::shared_ptr<SubOrigin> o, std::string request,
                          SubLimits lim) {
  SubResponse r;
  try {
    r = co_await steps(*a, *o, request, lim);
  } catch (const std::exception& e) {
    r = failed(502, "proxy_internal_error", e.what());
  } catch (...) {
    r = failed(502, "proxy_internal_error", "internal error");
  }
  a->conn.reset();
  if (a->abandoned) co_return;
  a->result = std::move(r);
  a->finished = true;
  a->deadline.cancel();
}

}  // namespace

awaitable<SubResponse> sub_request(const std::shared_ptr<SubOrigin>& origin, const std::string& request,
                                   std::chrono::milliseconds timeout, SubLimits limits) {
  const Executor ex = co_await asio::this_coro::executor;
  auto a = std::make_shared<Attempt>(ex);
  a->deadline.expires_after(timeout);
  // (The steps get their own copies: they may outlive this call.)
  asio::co_spawn(ex, run_steps(a, origin, request, limits), asio::detached);
  // co_spawn may run the steps inline up to their first wait, or to the end
  // when they fail before any I/O: then there is nothing to wait for.
  if (!a->finished) co_await a->deadline.async_wait(nothrow);
  if (a->finished) co_return std::move(a->result);
  a->abandoned = true;
  if (a->conn) a->conn->stream.cancel();
  const std::string after = "no answer within " + std::to_string(timeout.count()) + " ms";
  if (a->connected) co_return failed(504, "http_response_timeout", after);
  co_return failed(504, "connection_timeout", after);
}

}  // namespace gh::upstream
