// RFC 6455 handshake check: the Sec-WebSocket-Accept a backend must send for
// the client's Sec-WebSocket-Key. A 101 without it does not open a tunnel.
#pragma once

#include <string>
#include <string_view>

namespace gh::proxy {

// base64(SHA-1(key + the RFC 6455 GUID)). Accepts any key bytes.
std::string websocket_accept(std::string_view key);

}  // namespace gh::proxy
