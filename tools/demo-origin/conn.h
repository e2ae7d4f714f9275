// One client connection of the demo origin: buffered reads, request heads,
// body framing, writes. Handlers and the WebSocket echo build on this.
#pragma once

#include <boost/asio.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "request.h"

namespace demo {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Settings {
  std::string name;
};

enum class HeadStatus { ok, eof, bad, too_big };
enum class BodyStatus { ok, bad, io_error };

class Conn {
 public:
  // A request head larger than this gets 431.
  static constexpr size_t kMaxHead = 64 * 1024;

  Conn(tcp::socket sock, const Settings& settings);

  // Serves requests until the client closes, an error, or Connection: close.
  asio::awaitable<void> run();

  const Settings& settings() const { return settings_; }
  const std::string& remote() const { return remote_; }

  using Sink = std::function<void(const char*, size_t)>;
  // Reads the request body (Content-Length or chunked), handing each piece to
  // `sink` when set, and counts its bytes into `total`.
  asio::awaitable<BodyStatus> read_body(const Request& req, const Sink& sink, uint64_t& total);

  // Exactly n bytes into dst, buffered bytes first.
  asio::awaitable<bool> read_exact(char* dst, size_t n);

  asio::awaitable<bool> write(std::string_view data);
  template <class Buffers>
  asio::awaitable<bool> write_buffers(const Buffers& bufs) {
    auto [ec, n] = co_await asio::async_write(sock_, bufs, use_tuple);
    co_return !ec;
  }

  // Sends a short error answer with Connection: close.
  asio::awaitable<void> send_error(int status, std::string_view body);

 private:
  asio::awaitable<HeadStatus> read_head(Request& req);
  // Reads more bytes into the buffer; false on EOF, error or a full buffer.
  asio::awaitable<bool> fill();
  // One CRLF-terminated line (without the CRLF); false when longer than max.
  asio::awaitable<BodyStatus> read_line(std::string& line, size_t max);
  asio::awaitable<BodyStatus> read_chunked(const Sink& sink, uint64_t& total);
  // Half-closes and drains what the client still sends, so the last answer is
  // not lost to a TCP reset caused by unread input.
  asio::awaitable<void> linger_close();

  tcp::socket sock_;
  const Settings& settings_;
  std::string remote_;
  std::vector<char> in_;
  size_t rd_ = 0, wr_ = 0;  // unread bytes are in_[rd_, wr_)
};

asio::awaitable<void> serve(tcp::socket sock, const Settings& settings);

}  // namespace demo
