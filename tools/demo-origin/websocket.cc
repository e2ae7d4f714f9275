#include "websocket.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "util.h"

namespace demo {

namespace {

constexpr size_t kMaxMessage = 16 * 1024 * 1024;

enum Opcode : uint8_t { kCont = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Close codes we send on errors (RFC 6455 section 7.4.1).
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kTooBig = 1009;

// One unfragmented, unmasked server frame.
asio::awaitable<bool> send_frame(Conn& conn, uint8_t opcode, const char* data, size_t n) {
  unsigned char head[10];
  size_t hn = 0;
  head[hn++] = uint8_t(0x80 | opcode);
  if (n < 126) {
    head[hn++] = uint8_t(n);
  } else if (n <= 0xFFFF) {
    head[hn++] = 126;
    head[hn++] = uint8_t(n >> 8);
    head[hn++] = uint8_t(n);
  } else {
    head[hn++] = 127;
    for (int i = 7; i >= 0; --i) head[hn++] = uint8_t(uint64_t(n) >> (8 * i));
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head, hn), asio::buffer(data, n)};
  co_return co_await conn.write_buffers(bufs);
}

asio::awaitable<void> send_close(Conn& conn, uint16_t code) {
  char payload[2] = {char(code >> 8), char(code & 0xFF)};
  co_await send_frame(conn, kClose, payload, 2);
}

void unmask(char* p, size_t n, const unsigned char key[4], size_t offset = 0) {
  for (size_t i = 0; i < n; ++i) p[i] = char(p[i] ^ key[(offset + i) & 3]);
}

}  // namespace

asio::awaitable<void> run_websocket(Conn& conn, const Request& req) {
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      websocket_accept(*req.find("sec-websocket-key")) + "\r\n";
  // Agree to the first offered subprotocol so clients that require one work.
  if (const std::string* protos = req.find("sec-websocket-protocol")) {
    std::string_view list = *protos;
    auto first = trim(list.substr(0, list.find(',')));
    if (!first.empty()) head += "Sec-WebSocket-Protocol: " + std::string(first) + "\r\n";
  }
  head += "\r\n";
  if (!co_await conn.write(head)) co_return;

  std::vector<char> message;  // data frames of the message in progress
  uint8_t message_op = 0;     // 0: no message in progress
  for (;;) {
    unsigned char h[2];
    if (!co_await conn.read_exact(reinterpret_cast<char*>(h), 2)) co_return;
    const bool fin = h[0] & 0x80;
    const uint8_t op = h[0] & 0x0F;
    const bool masked = h[1] & 0x80;
    uint64_t len = h[1] & 0x7F;
    if ((h[0] & 0x70) || !masked) {  // no extensions negotiated; clients must mask
      co_await send_close(conn, kProtocolError);
      co_return;
    }
    if (len >= 126) {
      unsigned char ext[8];
      size_t en = len == 126 ? 2 : 8;
      if (!co_await conn.read_exact(reinterpret_cast<char*>(ext), en)) co_return;
      len = 0;
      for (size_t i = 0; i < en; ++i) len = (len << 8) | ext[i];
    }
    unsigned char key[4];
    if (!co_await conn.read_exact(reinterpret_cast<char*>(key), 4)) co_return;

    if (op >= 8) {  // control frame
      if (!fin || len > 125 || (op != kClose && op != kPing && op != kPong)) {
        co_await send_close(conn, kProtocolError);
        co_return;
      }
      char payload[125];
      if (!co_await conn.read_exact(payload, size_t(len))) co_return;
      unmask(payload, size_t(len), key);
      if (op == kPing) {
        if (!co_await send_frame(conn, kPong, payload, size_t(len))) co_return;
      } else if (op == kClose) {
        if (len == 1) {
          co_await send_close(conn, kProtocolError);
        } else {
          // Echo the status code only (an empty close is echoed empty).
          co_await send_frame(conn, kClose, payload, len >= 2 ? 2 : 0);
        }
        co_return;
      }
      continue;  // pong: nothing to do
    }

    if (op != kCont && op != kText && op != kBinary) {
      co_await send_close(conn, kProtocolError);
      co_return;
    }
    if ((op == kCont) != (message_op != 0)) {  // continuation without start, or start inside one
      co_await send_close(conn, kProtocolError);
      co_return;
    }
    if (len > kMaxMessage || message.size() + len > kMaxMessage) {
      co_await send_close(conn, kTooBig);
      co_return;
    }
    if (op != kCont) message_op = op;
    size_t old = message.size();
    message.resize(old + size_t(len));
    if (!co_await conn.read_exact(message.data() + old, size_t(len))) co_return;
    unmask(message.data() + old, size_t(len), key);
    if (fin) {
      if (!co_await send_frame(conn, message_op, message.data(), message.size())) co_return;
      message.clear();
      message_op = 0;
    }
  }
}

}  // namespace demo
