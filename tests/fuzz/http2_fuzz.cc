// libFuzzer target: the HTTP/2 codec (src/http2), both roles.
//
// Input layout: byte 0 chooses the mode, the rest is what the peer sends.
//   bit 0:    client role (the input is a server's bytes) instead of server
//   bit 1:    tight limits (small windows, header list and budgets) so the
//             abuse paths are reached with short inputs
//   bit 2:    the server role gets the connection preface and a SETTINGS
//             ACK prepended (most inputs would die on the preface otherwise)
//   bits 3-7: chunk size for feeding (1 + value * 7 bytes)
//
// Our side answers every request (server: head, body, trailers) and sends
// two requests (client), consumes every data byte and writes out all its
// output, so the send paths run too. Invariants checked: data views lie in
// the bytes of the receive() that produced them; a stream is reported
// closed at most once and nothing is reported for it after that; once
// receive() says the connection is over it stays over; pending output stays
// under its bound; header blocks obey max_header_list_bytes.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "http2/client_connection.h"
#include "http2/server_connection.h"

#include "fuzz_check.h"

using namespace gh::http2;

namespace {

void check_and_answer(Connection& c, bool server, std::string_view chunk,
                      std::set<int32_t>& closed, const Limits& l) {
  Event ev;
  while (c.next_event(ev)) {
    if (!ev.data.empty()) FUZZ_CHECK(fuzz::inside(ev.data, chunk, chunk.size()));
    if (ev.stream_id != 0 && ev.kind != EventKind::goaway)
      FUZZ_CHECK(!closed.count(ev.stream_id));
    FUZZ_CHECK(ev.head.list_bytes() <= l.max_header_list_bytes);
    switch (ev.kind) {
      case EventKind::request_head: {
        FUZZ_CHECK(server);
        FUZZ_CHECK(!ev.head.method.empty());
        for (auto& f : ev.head.fields()) {
          FUZZ_CHECK(!f.name.empty());
          for (char ch : f.name) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));
        }
        auto& sc = static_cast<ServerConnection&>(c);
        gh::http::Field f[] = {{"content-type", "text/plain"}};
        if (sc.submit_response(ev.stream_id, 200, f, false)) {
          sc.submit_data(ev.stream_id, std::string(3000, 'x'), false);
          gh::http::Field t[] = {{"grpc-status", "0"}};
          sc.submit_trailers(ev.stream_id, t);
        }
        break;
      }
      case EventKind::request_refused:
        FUZZ_CHECK(server);
        static_cast<ServerConnection&>(c).submit_response(ev.stream_id, ev.status, {}, true);
        break;
      case EventKind::request_data:
      case EventKind::response_data:
        c.consume(ev.stream_id, ev.data.size());
        break;
      case EventKind::stream_closed:
        closed.insert(ev.stream_id);
        break;
      default:
        break;
    }
  }
}

void drain_output(Connection& c) {
  for (int i = 0; i < 64; ++i) {
    std::string_view out = c.pending_output();
    FUZZ_CHECK(out.size() <= 64 * 1024 + 16384 + 9 + 64 * 1024);
    if (out.empty()) break;
    c.output_written(out.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  bool client = mode & 1;
  Limits l;
  if (mode & 2) {
    l.max_concurrent_streams = 4;
    l.max_header_list_bytes = 512;
    l.initial_window_bytes = 100;
    l.connection_window_bytes = 65535;
    l.max_send_buffer_per_stream = 1024;
    l.max_resets_per_window = 3;
    l.max_stream_errors_per_window = 3;
    l.max_control_frames_per_window = 8;
    l.max_continuation_frames = 2;
  }
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!client && (mode & 4)) {
    static const char kSettingsAck[] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
    static const char kSettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    input = std::string(NGHTTP2_CLIENT_MAGIC) + std::string(kSettings, 9) +
            std::string(kSettingsAck, 9) + input;
  }
  size_t chunk = 1 + size_t(mode >> 3) * 7;

  std::unique_ptr<Connection> c;
  if (client) {
    auto cc = std::make_unique<ClientConnection>(l);
    ClientConnection::Request r;
    r.method = "GET";
    r.scheme = "https";
    r.authority = "fuzz";
    r.path = "/";
    FUZZ_CHECK(cc->submit_request(r, true) == 1);
    r.method = "POST";
    int32_t id = cc->submit_request(r, false);
    FUZZ_CHECK(id == 3);
    cc->submit_data(id, "body", true);
    c = std::move(cc);
  } else {
    c = std::make_unique<ServerConnection>(l);
  }
  drain_output(*c);

  std::set<int32_t> closed;
  bool over = false;
  uint64_t now = 0;
  for (size_t at = 0; at < input.size(); at += chunk) {
    std::string piece = input.substr(at, chunk);  // own buffer: views must point into it
    bool alive = c->receive(piece, now);
    if (over) FUZZ_CHECK(!alive);
    over = over || !alive;
    check_and_answer(*c, !client, piece, closed, l);
    drain_output(*c);
    check_and_answer(*c, !client, {}, closed, l);
    now += 7;
  }
  return 0;
}
