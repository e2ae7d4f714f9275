// WebSocket echo (RFC 6455) for the demo origin.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "conn.h"
#include "request.h"

namespace demo {

// Sends the 101 answer for a checked handshake, then echoes messages until a
// close frame or an error. The caller closes the TCP connection afterwards.
boost::asio::awaitable<void> run_websocket(Conn& conn, const Request& req);

}  // namespace demo
