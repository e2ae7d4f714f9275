// The client side of an HTTP/2 connection (RFC 9113), sans-I/O, for
// talking to backends (`upstream_protocol: http2`): h2 over TLS after ALPN,
// or h2c with prior knowledge. The connection preface and our SETTINGS are
// the first bytes of pending_output(). See connection.h for the shared
// calls, flow control, memory bounds and errors.
//
// Events: interim_response, response_head, response_data,
// response_trailers, stream_closed (every submitted request gets exactly
// one), stream_writable, goaway.
#pragma once

#include "http2/connection.h"

namespace gh::http2 {

class ClientConnection : public Connection {
 public:
  explicit ClientConnection(const Limits& limits = {});

  // A request head to send. Views; copied by submit_request().
  struct Request {
    std::string_view method;     // token, e.g. "GET"
    std::string_view scheme;     // "http" / "https"; omitted for plain CONNECT
    std::string_view authority;  // host[:port]; required for CONNECT; may be empty otherwise
    std::string_view path;       // origin-form, query included, or "*"; omitted for plain CONNECT
    std::string_view protocol;   // RFC 8441 ":protocol" for extended CONNECT, else empty
    std::span<const http::Field> fields;  // OutFields rules; Host dropped when authority is set
  };

  // Submits a request (RFC 9113 8.3.1). Returns its stream id (> 0), or -1
  // when refused: !can_submit(), a bad pseudo-header value (empty method,
  // missing scheme/path/authority as above, NUL/CR/LF/space in one), a
  // refused field, or ":protocol" the server did not allow (RFC 8441 3).
  // end_stream false: a body follows through submit_data/submit_trailers.
  int32_t submit_request(const Request& request, bool end_stream);

  // A new request would be taken now: the connection is fine, no GOAWAY
  // came or went, and fewer streams are open than the server's
  // SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive).
  bool can_submit() const;

  // The server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 3).
  bool extended_connect_allowed() const;
};

}  // namespace gh::http2
