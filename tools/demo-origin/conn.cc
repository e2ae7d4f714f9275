#include "conn.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "handlers.h"
#include "util.h"

namespace demo {

namespace {
constexpr size_t kBufSize = 128 * 1024;  // > kMaxHead so a too-big head is detected
constexpr size_t kMaxChunkLine = 4096;

std::string format_remote(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  std::string a = addr.to_string();
  if (addr.is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}
}  // namespace

Conn::Conn(tcp::socket sock, const Settings& settings)
    : sock_(std::move(sock)), settings_(settings), in_(kBufSize) {
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay(true), ec);
  remote_ = format_remote(sock_);
}

asio::awaitable<bool> Conn::fill() {
  if (rd_ == wr_) rd_ = wr_ = 0;
  if (wr_ == in_.size()) {
    if (rd_ == 0) co_return false;  // full of unread bytes
    std::memmove(in_.data(), in_.data() + rd_, wr_ - rd_);
    wr_ -= rd_;
    rd_ = 0;
  }
  auto [ec, n] = co_await sock_.async_read_some(asio::buffer(in_.data() + wr_, in_.size() - wr_),
                                                 use_tuple);
  if (ec) co_return false;
  wr_ += n;
  co_return true;
}

asio::awaitable<HeadStatus> Conn::read_head(Request& req) {
  size_t scanned = 0;  // offset from rd_ where the search for CRLFCRLF resumes
  for (;;) {
    std::string_view avail(in_.data() + rd_, wr_ - rd_);
    // Clients may send stray CRLFs between requests (RFC 9112 section 2.2).
    if (scanned == 0 && avail.size() >= 2 && avail.substr(0, 2) == "\r\n") {
      rd_ += 2;
      continue;
    }
    auto end = avail.find("\r\n\r\n", scanned);
    if (end != std::string_view::npos) {
      if (end + 4 > kMaxHead) co_return HeadStatus::too_big;
      bool ok = parse_head(avail.substr(0, end), req);
      rd_ += end + 4;
      co_return ok ? HeadStatus::ok : HeadStatus::bad;
    }
    if (avail.size() > kMaxHead) co_return HeadStatus::too_big;
    scanned = avail.size() >= 3 ? avail.size() - 3 : 0;
    // Compaction inside fill() moves bytes but keeps offsets from rd_ valid.
    if (!co_await fill()) co_return wr_ == rd_ ? HeadStatus::eof : HeadStatus::bad;
  }
}

asio::awaitable<BodyStatus> Conn::read_line(std::string& line, size_t max) {
  for (;;) {
    std::string_view avail(in_.data() + rd_, wr_ - rd_);
    auto eol = avail.find("\r\n");
    if (eol != std::string_view::npos) {
      if (eol > max) co_return BodyStatus::bad;
      line.assign(avail.substr(0, eol));
      rd_ += eol + 2;
      co_return BodyStatus::ok;
    }
    if (avail.size() > max + 1) co_return BodyStatus::bad;
    if (!co_await fill()) co_return BodyStatus::io_error;
  }
}

asio::awaitable<BodyStatus> Conn::read_body(const Request& req, const Sink& sink, uint64_t& total) {
  total = 0;
  if (req.chunked) co_return co_await read_chunked(sink, total);
  uint64_t left = req.content_length;
  while (left > 0) {
    if (rd_ == wr_ && !co_await fill()) co_return BodyStatus::io_error;
    size_t n = size_t(std::min<uint64_t>(left, wr_ - rd_));
    if (sink) sink(in_.data() + rd_, n);
    rd_ += n;
    left -= n;
    total += n;
  }
  co_return BodyStatus::ok;
}

asio::awaitable<BodyStatus> Conn::read_chunked(const Sink& sink, uint64_t& total) {
  std::string line;
  for (;;) {
    if (auto st = co_await read_line(line, kMaxChunkLine); st != BodyStatus::ok) co_return st;
    std::string_view size_part = line;
    size_part = trim(size_part.substr(0, size_part.find(';')));
    if (size_part.empty() || size_part.size() > 15) co_return BodyStatus::bad;
    uint64_t size = 0;
    for (char c : size_part) {
      int v = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (v < 0) co_return BodyStatus::bad;
      size = size * 16 + uint64_t(v);
    }
    if (size == 0) break;
    while (size > 0) {
      if (rd_ == wr_ && !co_await fill()) co_return BodyStatus::io_error;
      size_t n = size_t(std::min<uint64_t>(size, wr_ - rd_));
      if (sink) sink(in_.data() + rd_, n);
      rd_ += n;
      size -= n;
      total += n;
    }
    if (auto st = co_await read_line(line, 0); st != BodyStatus::ok) co_return st;
  }
  // Trailer fields, ignored, up to the empty line.
  for (int i = 0;; ++i) {
    if (i > 100) co_return BodyStatus::bad;
    if (auto st = co_await read_line(line, kMaxChunkLine); st != BodyStatus::ok) co_return st;
    if (line.empty()) break;
  }
  co_return BodyStatus::ok;
}

asio::awaitable<bool> Conn::read_exact(char* dst, size_t n) {
  size_t have = std::min(n, wr_ - rd_);
  std::memcpy(dst, in_.data() + rd_, have);
  rd_ += have;
  if (have == n) co_return true;
  auto [ec, got] = co_await asio::async_read(sock_, asio::buffer(dst + have, n - have), use_tuple);
  co_return !ec;
}

asio::awaitable<bool> Conn::write(std::string_view data) {
  auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(data), use_tuple);
  co_return !ec;
}

asio::awaitable<void> Conn::send_error(int status, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                    "\r\nContent-Type: text/plain\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out += body;
  co_await write(out);
}

asio::awaitable<void> Conn::linger_close() {
  using namespace asio::experimental::awaitable_operators;
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  auto drain = [this]() -> asio::awaitable<void> {
    char sink[4096];
    for (;;) {
      auto [e, n] = co_await sock_.async_read_some(asio::buffer(sink), use_tuple);
      if (e) co_return;
    }
  };
  auto wait = [this]() -> asio::awaitable<void> {
    asio::steady_timer t(sock_.get_executor(), std::chrono::seconds(1));
    co_await t.async_wait(use_tuple);
  };
  co_await (drain() || wait());
}

asio::awaitable<void> Conn::run() {
  for (;;) {
    Request req;
    auto st = co_await read_head(req);
    if (st == HeadStatus::eof) break;
    if (st == HeadStatus::too_big) {
      co_await send_error(431, "request head too large\n");
      break;
    }
    if (st == HeadStatus::bad) {
      co_await send_error(400, "bad request\n");
      break;
    }
    bool again = co_await handle(*this, req);
    if (!again || !req.keep_alive) break;
  }
  co_await linger_close();
  boost::system::error_code ec;
  sock_.close(ec);
}

asio::awaitable<void> serve(tcp::socket sock, const Settings& settings) {
  Conn conn(std::move(sock), settings);
  co_await conn.run();
}

}  // namespace demo
