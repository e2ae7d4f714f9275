// Request dispatch of the demo origin: the echo handler and the special paths.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "conn.h"
#include "request.h"

namespace demo {

// Answers one request (reading its body). Returns false when the connection
// must close afterwards (error, non-reusable framing, WebSocket done).
boost::asio::awaitable<bool> handle(Conn& conn, Request& req);

// Fills the shared 64 KiB block /bytes and /chunked stream from. Byte k of
// every such body is kBodyAlphabet[k % 64], so clients can verify content.
void init_body_block();

}  // namespace demo
