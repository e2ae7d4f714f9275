// demo-origin: a small HTTP/1.1 origin for gatehouse's demo, e2e tests and
// benchmarks. The paths it answers are listed in kPaths below (printed by
// --help) and implemented in handlers.cc.
//
//   demo-origin --port N [--host 127.0.0.1] [--name NAME] [--threads N]
//
// --port 0 picks a free port; the ready line tells which.

#include <boost/asio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conn.h"
#include "handlers.h"
#include "util.h"

namespace {

using namespace demo;

struct Options {
  std::string host = "127.0.0.1";
  std::optional<uint16_t> port;
  std::string name;
  unsigned threads = 1;
};

constexpr const char* kUsage =
    "usage: demo-origin --port N [--host 127.0.0.1] [--name NAME] [--threads N]\n";

constexpr const char* kPaths =
    "  --port 0 picks a free port; the ready line on stdout tells which.\n"
    "\n"
    "paths (HTTP/1.1 and 1.0, keep-alive; HEAD gets the head only):\n"
    "  /small          13 bytes: \"hello, world\\n\" (text/plain)\n"
    "  /healthz        \"ok\"\n"
    "  /bytes/N        N bytes of application/octet-stream with Content-Length, byte k being\n"
    "                  \"0-9a-zA-Z-_\"[k % 64]; sent in 64 KiB writes (N up to 100 GiB)\n"
    "  /chunked/N      the same bytes, chunked (HTTP/1.0: until close)\n"
    "  /text/N         the first N bytes of one endless, deterministic HTML-like document\n"
    "                  (text/html; charset=utf-8, Content-Length N): sections, headings,\n"
    "                  paragraphs, lists and links of common words; compresses like a real\n"
    "                  page (about 4x with gzip -5); generated as it is sent, in 64 KiB\n"
    "                  writes (N up to 100 GiB)\n"
    "  /status/CODE    that status (200-599) with a short text body\n"
    "  /redirect?to=URL[&code=301|302|303|307|308]   a redirect (default 302) to URL\n"
    "  /cookie?v=NAME=VALUE[&v=...]   a Set-Cookie per v, and the echo below\n"
    "  /sleep/MS       waits MS milliseconds (up to 600000), then the echo below\n"
    "  POST|PUT /upload   reads the body: JSON {instance, body_bytes, sha256}\n"
    "  /ws, /ws/...    with a WebSocket upgrade: echoes every message\n"
    "  anything else   echo: JSON {instance, method, path, headers, body_bytes, remote}\n";

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "demo-origin: %s\n%s(--help lists the paths it answers)\n", msg, kUsage);
  std::exit(2);
}

[[noreturn]] void help() {
  std::printf("demo-origin: a small HTTP/1.1 origin for demos, tests and benchmarks\n%s%s", kUsage,
              kPaths);
  std::exit(0);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (arg == "--port" || arg == "--host" || arg == "--name" || arg == "--threads") {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      value = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      help();
    } else {
      usage(("unknown argument " + arg).c_str());
    }
    if (arg == "--port") {
      auto v = parse_u64(value);
      if (!v || *v > 65535) usage("bad --port");
      o.port = uint16_t(*v);
    } else if (arg == "--host") {
      o.host = value;
    } else if (arg == "--name") {
      o.name = value;
    } else if (arg == "--threads") {
      auto v = parse_u64(value);
      if (!v || *v < 1 || *v > 256) usage("bad --threads");
      o.threads = unsigned(*v);
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  if (!o.port) usage("--port is required");
  return o;
}

// Accepts on the first context and hands each socket to the next context in
// turn: every context runs on one thread, so a connection never needs locks.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                  std::vector<std::unique_ptr<asio::io_context>>& contexts,
                                  const Settings& settings) {
  size_t next = 0;
  for (;;) {
    auto& ctx = *contexts[next++ % contexts.size()];
    auto [ec, sock] = co_await acceptor.async_accept(ctx, use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Usually EMFILE: back off briefly instead of spinning.
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(ctx, serve(std::move(sock), settings), [](std::exception_ptr) {});
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  init_body_block();

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (unsigned i = 0; i < opt.threads; ++i)
    contexts.push_back(std::make_unique<asio::io_context>(1));

  boost::system::error_code ec;
  auto address = asio::ip::make_address(opt.host, ec);
  if (ec) usage(("bad --host " + opt.host).c_str());
  tcp::endpoint endpoint(address, *opt.port);
  tcp::acceptor acceptor(*contexts[0]);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "demo-origin: cannot listen on %s:%u: %s\n", opt.host.c_str(),
                 unsigned(*opt.port), ec.message().c_str());
    return 1;
  }
  const uint16_t port = acceptor.local_endpoint().port();

  Settings settings;
  settings.name = opt.name.empty() ? "origin-" + std::to_string(port) : opt.name;

  asio::signal_set signals(*contexts[0], SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& e, int) {
    if (e) return;
    for (auto& c : contexts) c->stop();
  });

  asio::co_spawn(*contexts[0], accept_loop(acceptor, contexts, settings), [](std::exception_ptr) {});

  std::printf("demo-origin %s listening on %s:%u\n", settings.name.c_str(), opt.host.c_str(),
              unsigned(port));
  std::fflush(stdout);

  // Work guards keep idle contexts running until a signal stops them.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < contexts.size(); ++i) threads.emplace_back([&c = *contexts[i]] { c.run(); });
  contexts[0]->run();
  for (auto& t : threads) t.join();

  // Pending coroutines hold sockets of several contexts; skip their teardown
  // rather than order it: the process is ending anyway.
  std::fflush(stdout);
  std::_Exit(0);
}
