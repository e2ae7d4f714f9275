// The server side of an HTTP/2 connection (RFC 9113), sans-I/O: a front end
// feeds it the client's bytes, turns each Event::request_head into an
// http::RequestHead (method, scheme, authority, path and fields are already
// views of the right shape; version 20) and answers with submit_response /
// submit_data / submit_trailers. See connection.h for the shared calls,
// flow control, memory bounds and errors, and limits.h for what is
// enforced.
//
// The connection preface (RFC 9113 3.4) is expected first; anything else
// (an HTTP/1.x request, an h2c upgrade attempt) ends the connection at once
// with no GOAWAY and reason() saying so. Our SETTINGS are ready to go out
// from construction on (pending_output()), so a server may write them
// before the client's first byte.
#pragma once

#include "http2/connection.h"

namespace gh::http2 {

class ServerConnection : public Connection {
 public:
  explicit ServerConnection(const Limits& limits = {});

  // Submits the final response head (RFC 9113 8.1) for a stream that got
  // request_head or request_refused. `status` 200..599 (HTTP/2 has no 101,
  // RFC 9113 8.6). Fields follow OutFields' rules (out_fields.h):
  // connection-specific ones dropped, names lowercased, refused when a
  // name is not a token or a value holds NUL/CR/LF. end_stream false: a
  // body follows through submit_data()/submit_trailers(). If the request is
  // not complete when the response is, the codec resets the stream with
  // NO_ERROR once the response is out (RFC 9113 8.1).
  // False (nothing sent): unknown or closed stream, head already
  // submitted, bad status or field, connection over.
  bool submit_response(int32_t stream, int status, std::span<const http::Field> fields,
                       bool end_stream);

  // Submits an interim response (RFC 9110 15.2: 100 Continue, 103 Early
  // Hints; any 1xx but 101) before the final one. Same field rules. False as
  // above, or when the final head was already submitted.
  bool submit_interim(int32_t stream, int status, std::span<const http::Field> fields);
};

}  // namespace gh::http2
