#include "upstream/health_probe.h"

#include <cctype>
#include <exception>
#include <memory>
#include <tuple>
#include <vector>

#include "http1/parser.h"

namespace gh::upstream {

using namespace gh::net;

namespace {

// The state one probe shares with its deadline. The steps run as their own
// coroutine so that the deadline can answer even while a name lookup (which
// Asio cannot abort) is still running; `abandoned` then tells the steps to
// stop touching anything.
struct Attempt {
  explicit Attempt(const asio::any_io_executor& ex) : socket(ex), deadline(ex) {}
  tcp::socket socket;
  asio::steady_timer deadline;
  bool finished = false;    // the steps wrote `result`
  bool abandoned = false;   // the deadline answered first
  ProbeResult result;
};

// Head size bound: a health endpoint has no business sending a large head.
constexpr size_t kMaxHead = 16 * 1024;

bool safe_field(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x21 || c == 0x7f) return false;
  return true;
}

ProbeResult failed(std::string why) {
  ProbeResult r;
  r.error = std::move(why);
  return r;
}

awaitable<ProbeResult> probe_steps(Attempt& a, Resolver& resolver, const ProbeSpec& spec) {
  const bool connect_only = spec.tls || spec.tcp_only;
  std::string request;
  if (!connect_only) {
    request = build_probe_request(spec.path, spec.host_header);
    if (request.empty()) co_return failed("invalid check path or host");
  }

  std::vector<tcp::endpoint> eps;
  error_code ec = co_await resolver.resolve(spec.host, spec.port, eps);
  if (a.abandoned) co_return ProbeResult{};
  if (ec) co_return failed("name resolution failed: " + describe_error(ec));

  // One address after the other (not asio::async_connect): a closed socket
  // after the deadline must stop the walk instead of reopening it.
  error_code cec = asio::error::host_not_found;
  for (const auto& ep : eps) {
    error_code ignored;
    a.socket.close(ignored);
    auto [e] = co_await a.socket.async_connect(ep, nothrow);
    if (a.abandoned) co_return ProbeResult{};
    cec = e;
    if (!cec) break;
  }
  if (cec) co_return failed(describe_error(cec));

  if (connect_only) {
    ProbeResult ok;
    ok.ok = true;
    co_return ok;
  }

  auto [wec, wn] = co_await asio::async_write(a.socket, asio::buffer(request), nothrow);
  if (a.abandoned) co_return ProbeResult{};
  if (wec) co_return failed("sending the check failed: " + describe_error(wec));

  std::string buf;
  http1::ResponseHead head;
  http1::Limits lim;
  lim.max_head = kMaxHead;
  lim.max_headers = 100;
  for (;;) {
    size_t have = buf.size();
    buf.resize(have + 4096);
    auto [rec, n] = co_await a.socket.async_read_some(asio::buffer(buf.data() + have, 4096),
                                                      nothrow);
    if (a.abandoned) co_return ProbeResult{};
    buf.resize(have + n);
    if (n > 0) {
      http1::ParseError perr;
      head.clear();
      auto st = http1::parse_response(buf, head, false, lim, perr);
      if (st == http1::ParseStatus::error)
        co_return failed(std::string("malformed response: ") + perr.detail);
      if (st == http1::ParseStatus::complete) {
        ProbeResult r;
        r.status = head.status;
        if (head.status >= 0 && static_cast<unsigned>(head.status) >= spec.expect_min &&
            static_cast<unsigned>(head.status) <= spec.expect_max) {
          r.ok = true;
        } else {
          r.error = "status " + std::to_string(head.status);
        }
        co_return r;
      }
    }
    if (rec == asio::error::eof)
      co_return failed(buf.empty() ? "connection closed before the response"
                                   : "connection closed in the response head");
    if (rec) co_return failed(describe_error(rec));
  }
}

awaitable<void> run_steps(std::shared_ptr<Attempt> a, Resolver& resolver, ProbeSpec spec) {
  ProbeResult r;
  try {
    r = co_await probe_steps(*a, resolver, spec);
  } catch (const std::exception& e) {
    r = failed(std::string("internal error: ") + e.what());
  } catch (...) {
    r = failed("internal error");
  }
  if (a->abandoned) co_return;
  a->result = std::move(r);
  a->finished = true;
  a->deadline.cancel();
  error_code ignored;
  a->socket.close(ignored);
}

}  // namespace

std::string build_probe_request(const std::string& path, const std::string& host_header) {
  if (path.empty() || path[0] != '/' || !safe_field(path)) return {};
  for (unsigned char c : host_header)
    if (c < 0x20 || c == 0x7f) return {};
  if (host_header.empty() || host_header.find(' ') != std::string::npos) return {};
  std::string req;
  req.reserve(path.size() + host_header.size() + 96);
  req += "GET ";
  req += path;
  req += " HTTP/1.1\r\nHost: ";
  req += host_header;
  req += "\r\nUser-Agent: gatehouse-health\r\nConnection: close\r\n\r\n";
  return req;
}

std::string describe_error(const error_code& ec) {
  namespace e = asio::error;
  if (ec == e::connection_refused) return "connection refused";
  if (ec == e::connection_reset) return "connection reset";
  if (ec == e::eof) return "connection closed";
  if (ec == e::timed_out) return "connection timed out";
  if (ec == e::host_unreachable) return "host unreachable";
  if (ec == e::network_unreachable) return "network unreachable";
  if (ec == e::host_not_found || ec == e::host_not_found_try_again || ec == e::no_data)
    return "host not found";
  if (ec == e::operation_aborted) return "cancelled";
  std::string m = ec.message();
  for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return m;
}

awaitable<ProbeResult> run_probe(Resolver& resolver, ProbeSpec spec) {
  auto ex = co_await asio::this_coro::executor;
  auto started = std::chrono::steady_clock::now();
  auto timeout = spec.timeout;
  auto a = std::make_shared<Attempt>(ex);
  a->deadline.expires_after(timeout);
  asio::co_spawn(ex, run_steps(a, resolver, std::move(spec)), asio::detached);
  // co_spawn may run the steps inline up to their first wait, or to the end
  // when they fail before any I/O: then there is nothing to wait for.
  error_code ec;
  if (!a->finished) std::tie(ec) = co_await a->deadline.async_wait(nothrow);

  ProbeResult r;
  if (a->finished) {
    r = std::move(a->result);
  } else {
    a->abandoned = true;
    error_code ignored;
    a->socket.close(ignored);
    // Our own wait aborted (the caller was cancelled) is not the backend's fault,
    // but the probe still did not pass.
    r.error = ec == asio::error::operation_aborted
                  ? "cancelled"
                  : "timeout after " + std::to_string(timeout.count()) + "ms";
  }
  r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  co_return r;
}

}  // namespace gh::upstream
