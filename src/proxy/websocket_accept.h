// RFC 6455 handshake check: the Sec-WebSocket-Accept a backend must send for
// the client's Sec-WebSocket-Key. A 101 without it does not open a tunnel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::proxy {

// base64(SHA-1(key + the RFC 6455 GUID)). Accepts any key bytes.
std::string websocket_accept(std::string_view key);

// A Sec-WebSocket-Key (RFC 6455 4.1: base64 of 16 random bytes) made from
// `a` and `b`, for an RFC 8441 WebSocket, whose HTTP/2 client sends none,
// forwarded to an HTTP/1.1 backend.
std::string websocket_key(uint64_t a, uint64_t b);

}  // namespace gh::proxy
