// The client's side of one exchange as the forward path (forward.h) sees it,
// whatever protocol carries it: an HTTP/1 connection (session.h) today, an
// HTTP/2 stream next. The forward path picks the backend, talks to it and
// decides every field of the response; a Downstream only says how its
// request body comes and puts responses into its own framing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "core/cidr.h"
#include "http/exchange.h"
#include "net/deadlines.h"
#include "http/body.h"

namespace gh::upstream {
struct UpConn;
}

namespace gh::proxy {

// The client's connection: who it is and how it reached us.
struct ClientInfo {
  core::Ip16 ip{};
  std::string ip_str;        // "127.0.0.1" / "::1"
  uint16_t port = 0;
  uint16_t local_port = 0;   // the listener's port, or a PROXY header's destination port (X-Forwarded-Port)
  // local_from_header: a PROXY header's destination address (local_port its
  // port), for a TLS passthrough stream's own PROXY header out; otherwise
  // zero and the socket's local address is the answer.
  core::Ip16 local_ip{};
  bool local_from_header = false;
  bool tls = false;          // the client reached us over TLS
  const char* tls_version = nullptr;   // its version ("TLSv1.3", OpenSSL's static string), after the handshake
  bool v6 = false;           // the socket's family (a v6 listener may carry v4 clients)
  bool served = false;         // parked after a request (not waiting for its first)
  bool wakes_quickly = false;  // served, and its last park ended within kBusyWakeMs (see park.h)
};

// How the request body is to reach the backend.
struct RequestBody {
  enum class Kind : uint8_t {
    none,     // no body
    whole,    // all of it is held (request buffering): sent with the head, replayable
    stream,   // it streams from `source` while the response is awaited
  };
  Kind kind = Kind::none;
  // whole: the bytes that follow the head, payload as is, or chunk-coded
  // (with its trailers) when `whole_chunked`.
  std::string_view whole;
  bool whole_chunked = false;
  // stream: the payload's length when the client announced it (Content-
  // Length upstream), else it goes chunk-coded.
  bool length_known = false;
  uint64_t length = 0;
  http::BodySource* source = nullptr;
  // stream: the client waits for a 100 (Continue) before it sends the body;
  // Expect then goes upstream, and slowness counts from the first byte.
  bool expect_continue = false;
};

// How the backend framed the response body, for the downstream's choice of
// its own framing.
struct ResponseFraming {
  enum class Length : uint8_t { none, known, unknown };
  Length length = Length::unknown;   // none: no body (HEAD, 204, 304); known: Content-Length
  bool request_unfinished = false;   // the request body is still streaming: close after
  bool switching = false;            // 101: the connection becomes a tunnel
  std::string_view upgrade;          // 101: the protocol switched to
  // Transfer-Encoding listed codings besides chunked (RFC 9112 6.1): they
  // stay applied, and this is the Transfer-Encoding value to state (chunked
  // last: the downstream chunks the body).
  std::string_view te_other_codings;
};

// Receives the fields of a head in order, as the field rules decide them.
class FieldWriter {
 public:
  virtual void add(std::string_view name, std::string_view value) = 0;

 protected:
  ~FieldWriter() = default;
};

// Field lines in HTTP/1 form ("Name: value\r\n"), appended to `out`.
struct FieldLines final : FieldWriter {
  explicit FieldLines(std::string* o = nullptr) : out(o) {}
  std::string* out;
  void add(std::string_view name, std::string_view value) override {
    *out += name;
    *out += ": ";
    *out += value;
    *out += "\r\n";
  }
};

class Downstream {
 public:
  // An interim (1xx, not 101) response from the backend, to pass on where
  // the client's protocol allows. False: the client is gone.
  virtual net::awaitable<bool> send_interim(int status, std::span<const http::Field> fields) = 0;
  // Starts the response head: the status line now, the fields through the
  // writer returned. `framing` says how the body follows; the downstream
  // decides its own framing from it and tells whether a Content-Length
  // field from the backend still holds (keeps_length()).
  virtual FieldWriter& begin_response(int status, std::string_view reason,
                                      const ResponseFraming& framing) = 0;
  virtual bool keeps_length() const = 0;
  // Ends the head; the body goes to the sink returned (which sends the head
  // with its first write). Valid until the next begin_response.
  virtual http::BodySink& end_response() = 0;
  // True when the client's connection stays open after this response.
  virtual bool keeps_connection() const = 0;

  // A proxy-made error (RFC 9209 Proxy-Status `error`, `details`, `next_hop`).
  virtual net::awaitable<void> send_error(int status, const char* error, std::string_view details,
                                          std::string_view next_hop) = 0;
  // The backend's own error status, answered with the route's error page
  // (intercept_errors).
  virtual net::awaitable<void> send_intercepted(int status) = 0;
  // The backend has the whole request (a none or whole body): what the
  // downstream held for it may go.
  virtual void request_delivered() = 0;
  // The client's connection must close after this response (HTTP/1), or
  // the response is cut and its stream must end abnormally.
  virtual void close_after_response() = 0;
  // After a 101 went out: both ways become one byte tunnel until either side
  // ends it. `up`/`up_in`/`up_dl` are the backend's connection, the bytes it
  // already sent, its deadline.
  virtual net::awaitable<void> tunnel(upstream::UpConn& up, core::Buffer& up_in,
                                      net::Deadline& up_dl) = 0;
  // While the forward path waits for the backend's response head and
  // nothing else reads the client: watch_client(true) asks the downstream
  // to end the exchange through Forwarder::cancel() if the client closes
  // its connection meanwhile (logged 499, the backend connection closed);
  // watch_client(false) stops that. HTTP/2 streams need nothing here: a
  // client's RST_STREAM already cancels.
  virtual void watch_client(bool on) { (void)on; }

 protected:
  ~Downstream() = default;
};

}  // namespace gh::proxy
