// ServerConnection driven by a real nghttp2 client session (ordinary
// traffic) and by hand-made frames (attacks and edge cases).
#include <gtest/gtest.h>

#include "http2_test_peer.h"

using namespace h2test;
using gh::http::Field;
using gh::http2::Limits;
using gh::http2::ServerConnection;

namespace {

// A server fed hand-made frames; its output parsed back into frames.
struct Raw {
  explicit Raw(Limits l = {}) : conn(l) { take_output(conn); }  // our SETTINGS, dropped
  bool send(const std::string& bytes) {
    alive = conn.receive(bytes, now) && alive;
    drain(conn, events);
    std::string o = take_output(conn);
    auto fs = parse(o);
    drain(conn, events);
    frames.insert(frames.end(), fs.begin(), fs.end());
    return alive;
  }
  // Preface, our SETTINGS acknowledged.
  void open() { ASSERT_TRUE(send(preface() + settings_ack())); }
  const Frame* goaway() const { return find_frame(frames, NGHTTP2_GOAWAY); }

  ServerConnection conn;
  Hpack hpack;
  std::vector<Rec> events;
  std::vector<Frame> frames;
  uint64_t now = 0;
  bool alive = true;
};

// A request whose header list decodes to 30 * 2538 bytes (> 64 KiB) from
// about 2.6 KB of HPACK: the big value is indexed once, then referenced.
NV bomb() {
  NV nv = get_request();
  for (int i = 0; i < 30; ++i) nv.push_back({"x-bomb", std::string(2500, 'b')});
  return nv;
}

}  // namespace

TEST(Http2Server, GetRequestBecomesHeadEventAndResponseGoesOut) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  int32_t id = peer.request({{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"},
                             {":path", "/a?b=c"}, {"accept", "*/*"}, {"cookie", "a=1"},
                             {"x-one", "1"}, {"cookie", "b=2"}, {"cookie", "c=3"}});
  ASSERT_TRUE(pump(peer, conn, ev));
  auto heads = of_kind(ev, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  const auto& h = heads[0]->ev.head;
  EXPECT_EQ(heads[0]->ev.stream_id, id);
  EXPECT_TRUE(heads[0]->ev.end_stream);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.scheme, "https");
  EXPECT_EQ(h.authority, "example.com");
  EXPECT_EQ(h.path, "/a?b=c");
  EXPECT_EQ(h.protocol, "");
  EXPECT_FALSE(h.content_length.has_value());
  // Cookie crumbs joined at the first crumb's place (RFC 9113 8.2.3).
  ASSERT_EQ(h.fields().size(), 3u);
  EXPECT_EQ(h.fields()[0].name, "accept");
  EXPECT_EQ(h.fields()[1].name, "cookie");
  EXPECT_EQ(h.fields()[1].value, "a=1; b=2; c=3");
  EXPECT_EQ(h.fields()[2].name, "x-one");

  std::vector<Field> resp = {{"Content-Type", "text/plain"}, {"Connection", "close"},
                             {"Keep-Alive", "timeout=5"}, {"Transfer-Encoding", "chunked"},
                             {"Upgrade", "h2c"}, {"Proxy-Connection", "x"}, {"TE", "trailers"},
                             {"X-Trim", "  v  "}};
  ASSERT_TRUE(conn.submit_response(id, 200, resp, false));
  EXPECT_EQ(conn.submit_data(id, "hello", true), 5u);
  ASSERT_TRUE(pump(peer, conn, ev));
  auto& ps = peer.streams[id];
  EXPECT_EQ(ps.statuses, std::vector<int>{200});
  EXPECT_EQ(ps.body, "hello");
  EXPECT_TRUE(ps.ended);
  NV want = {{":status", "200"}, {"content-type", "text/plain"}, {"x-trim", "v"}};
  EXPECT_EQ(ps.head, want);
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, 0u);
  EXPECT_TRUE(conn.idle());
  EXPECT_EQ(conn.counters().streams, 1u);
}

TEST(Http2Server, HeadOutlivesTheConnection) {
  std::vector<Rec> ev;
  {
    ServerConnection conn;
    Peer peer(false);
    peer.request({{":method", "GET"}, {":scheme", "http"}, {":path", "/x"}, {"host", "h.example"},
                  {"x-long", std::string(3000, 'v')}});
    ASSERT_TRUE(pump(peer, conn, ev));
  }
  auto heads = of_kind(ev, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  // Host stands in for a missing :authority (RFC 9113 8.3.1).
  EXPECT_EQ(heads[0]->ev.head.authority, "h.example");
  EXPECT_EQ(field(heads[0]->ev.head, "x-long"), std::string(3000, 'v'));
  gh::http2::HeaderBlock moved = std::move(const_cast<Rec*>(heads[0])->ev.head);
  EXPECT_EQ(moved.path, "/x");
  gh::http::RequestHead rh = gh::http2::to_request_head(moved);
  EXPECT_EQ(rh.method, "GET");
  EXPECT_EQ(rh.scheme, "http");
  EXPECT_EQ(rh.authority, "h.example");
  EXPECT_EQ(rh.path, "/x");
  EXPECT_EQ(rh.version, 20);
  EXPECT_EQ(gh::http::find_field(rh.fields, "X-Long").size(), 3000u);
}

TEST(Http2Server, HostDisagreeingWithAuthorityIsMalformed) {
  Raw r;
  r.open();
  NV nv = get_request();
  nv.push_back({"host", "other.example"});
  r.send(headers(1, r.hpack.encode(nv), true));
  EXPECT_TRUE(of_kind(r.events, EventKind::request_head).empty());
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(r.conn.counters().stream_errors, 1u);
}

TEST(Http2Server, PostBodyAcrossDataFramesAndTrailers) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  std::string body(40000, 'b');
  for (size_t i = 0; i < body.size(); ++i) body[i] = char('a' + i % 26);
  int32_t id = peer.request({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                             {":path", "/up"}, {"content-length", "40000"}, {"te", "trailers"}},
                            body, {{"grpc-status", "0"}, {"x-sum", "abc"}});
  std::string got;
  bool ended = false;
  for (int i = 0; i < 50 && !ended; ++i) {
    ASSERT_TRUE(pump(peer, conn, ev));
    for (auto* r : of_kind(ev, EventKind::request_data)) {
      got += r->data;
      conn.consume(id, r->data.size());
    }
    ended = !of_kind(ev, EventKind::request_trailers).empty();
    std::erase_if(ev, [](const Rec& r) { return r.ev.kind == EventKind::request_data; });
  }
  EXPECT_EQ(got, body);
  auto heads = of_kind(ev, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_FALSE(heads[0]->ev.end_stream);
  EXPECT_EQ(heads[0]->ev.head.content_length, 40000u);
  EXPECT_EQ(field(heads[0]->ev.head, "te"), "trailers");
  auto tr = of_kind(ev, EventKind::request_trailers);
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(field(tr[0]->ev.head, "grpc-status"), "0");
  EXPECT_EQ(field(tr[0]->ev.head, "x-sum"), "abc");
  EXPECT_TRUE(tr[0]->ev.end_stream);

  // A gRPC-style answer: head, body, trailers.
  ASSERT_TRUE(conn.submit_response(id, 200, std::vector<Field>{{"content-type", "application/grpc"}}, false));
  EXPECT_EQ(conn.submit_data(id, "payload", false), 7u);
  ASSERT_TRUE(conn.submit_trailers(id, std::vector<Field>{{"grpc-status", "0"}, {"Grpc-Message", "ok"}}));
  EXPECT_EQ(conn.submit_data(id, "late", false), 0u);  // the end was submitted
  ASSERT_TRUE(pump(peer, conn, ev));
  auto& ps = peer.streams[id];
  EXPECT_EQ(ps.body, "payload");
  NV want_tr = {{"grpc-status", "0"}, {"grpc-message", "ok"}};
  EXPECT_EQ(ps.trailers, want_tr);
  EXPECT_TRUE(ps.ended);
  EXPECT_TRUE(conn.idle());
}

TEST(Http2Server, ReceiveWindowOnlyReopensAfterConsume) {
  Limits l;
  l.initial_window_bytes = 1000;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                                    {":path", "/"}}), false));
  r.frames.clear();
  r.send(data(1, std::string(600, 'x'), false));
  EXPECT_EQ(find_frame(r.frames, NGHTTP2_WINDOW_UPDATE), nullptr);
  auto d = of_kind(r.events, EventKind::request_data);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]->data.size(), 600u);
  // Consuming gives the window back: WINDOW_UPDATE for the stream (half
  // the window is due) and for the connection once half of it is due.
  r.conn.consume(1, 600);
  r.send("");
  const Frame* wu = find_frame(r.frames, NGHTTP2_WINDOW_UPDATE, 1);
  ASSERT_NE(wu, nullptr);
  EXPECT_EQ(wu->u32_at(0), 600u);
  // Consuming more than was delivered is clamped.
  r.frames.clear();
  r.conn.consume(1, 5000);
  r.send("");
  EXPECT_EQ(find_frame(r.frames, NGHTTP2_WINDOW_UPDATE, 1), nullptr);
}

TEST(Http2Server, DataBeyondTheStreamWindowIsAFlowControlError) {
  Limits l;
  l.initial_window_bytes = 1000;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                                    {":path", "/"}}), false));
  r.send(data(1, std::string(1000, 'x'), false));
  EXPECT_TRUE(r.alive);
  r.send(data(1, "y", false));  // one byte over, never consumed
  // nghttp2 1.52 treats a stream window overrun as a stream error.
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_FLOW_CONTROL_ERROR));
  auto closed = of_kind(r.events, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_FLOW_CONTROL_ERROR));
}

TEST(Http2Server, DataBeyondTheConnectionWindowEndsTheConnection) {
  Limits l;
  l.initial_window_bytes = 1 << 20;
  l.connection_window_bytes = 65535;
  Raw r(l);
  r.open();
  for (uint32_t id = 1; id <= 5; id += 2)
    r.send(headers(id, r.hpack.encode({{":method", "POST"}, {":scheme", "https"},
                                       {":authority", "e"}, {":path", "/"}}), false));
  r.send(data(1, std::string(16384, 'x'), false) + data(1, std::string(16384, 'x'), false) +
         data(3, std::string(16384, 'x'), false) + data(3, std::string(16383, 'x'), false));
  EXPECT_TRUE(r.alive);
  EXPECT_FALSE(r.send(data(5, "z", false)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_FLOW_CONTROL_ERROR));
  EXPECT_FALSE(r.conn.reason().empty());
}

TEST(Http2Server, FramesOverMaxFrameBytesEndTheConnection) {
  Limits l;
  l.max_frame_bytes = 32768;
  l.initial_window_bytes = 1 << 20;
  Raw r(l);
  r.open();  // our SETTINGS acknowledged: 32768 applies
  r.send(headers(1, r.hpack.encode({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                                    {":path", "/"}}), false));
  ASSERT_TRUE(r.send(data(1, std::string(32768, 'x'), false)));
  auto d = of_kind(r.events, EventKind::request_data);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]->data.size(), 32768u);
  EXPECT_FALSE(r.send(data(1, std::string(32769, 'x'), false)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_FRAME_SIZE_ERROR));
}

TEST(Http2Server, ResponseBodyTakenOnlyUpToThePeersWindow) {
  ServerConnection conn;
  Peer peer(false, /*auto_window=*/false, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000}});
  std::vector<Rec> ev;
  int32_t id = peer.request(get_request());
  ASSERT_TRUE(pump(peer, conn, ev));
  ASSERT_TRUE(conn.submit_response(id, 200, {}, false));
  std::string big(1 << 20, 'r');
  // The peer's window (1000) plus 16 KiB of slack.
  EXPECT_EQ(conn.data_capacity(id), 1000u + 16384u);
  size_t took = conn.submit_data(id, big, true);
  EXPECT_EQ(took, 1000u + 16384u);
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_EQ(peer.streams[id].body.size(), 1000u);
  EXPECT_EQ(conn.submit_data(id, std::string_view(big).substr(took), true), 0u);
  EXPECT_TRUE(of_kind(ev, EventKind::stream_writable).empty());
  // The peer reads it: WINDOW_UPDATE, and we say the stream is writable.
  peer.consume(id, 1000);
  ASSERT_TRUE(pump(peer, conn, ev));
  auto w = of_kind(ev, EventKind::stream_writable);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]->ev.stream_id, id);
  // Keep going until all of it is through.
  size_t sent = took;
  for (int i = 0; i < 10000 && peer.streams[id].body.size() < big.size(); ++i) {
    sent += conn.submit_data(id, std::string_view(big).substr(sent), true);
    ASSERT_TRUE(pump(peer, conn, ev));
    size_t unacked = peer.streams[id].body.size();
    peer.consume(id, unacked);  // nghttp2 ignores what it already gave back
    ASSERT_TRUE(pump(peer, conn, ev));
  }
  EXPECT_EQ(peer.streams[id].body.size(), big.size());
  EXPECT_TRUE(peer.streams[id].ended);
}

TEST(Http2Server, SendQueueIsBoundedByMaxSendBuffer) {
  Limits l;
  l.max_send_buffer_per_stream = 4096;
  ServerConnection conn(l);
  Peer peer(false, false, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}});
  std::vector<Rec> ev;
  int32_t id = peer.request(get_request());
  ASSERT_TRUE(pump(peer, conn, ev));
  ASSERT_TRUE(conn.submit_response(id, 200, {}, false));
  EXPECT_EQ(conn.submit_data(id, std::string(100000, 'q'), false), 4096u);
}

TEST(Http2Server, InterimResponsesBeforeTheFinalOne) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  int32_t id = peer.request({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                             {":path", "/"}, {"expect", "100-continue"}},
                            "", {}, /*end=*/false);
  ASSERT_TRUE(pump(peer, conn, ev));
  ASSERT_TRUE(conn.submit_interim(id, 100, {}));
  ASSERT_TRUE(conn.submit_interim(id, 103, std::vector<Field>{{"Link", "</s.css>; rel=preload"}}));
  EXPECT_FALSE(conn.submit_interim(id, 101, {}));  // no 101 in HTTP/2 (RFC 9113 8.6)
  EXPECT_FALSE(conn.submit_interim(id, 200, {}));
  ASSERT_TRUE(conn.submit_response(id, 204, {}, true));
  EXPECT_FALSE(conn.submit_interim(id, 100, {}));  // after the final head
  EXPECT_FALSE(conn.submit_response(id, 200, {}, true));
  pump(peer, conn, ev);
  EXPECT_EQ(peer.streams[id].statuses, (std::vector<int>{100, 103, 204}));
  // The request body was still open: RST_STREAM NO_ERROR after the response.
  EXPECT_EQ(peer.streams[id].reset, uint32_t(NGHTTP2_NO_ERROR));
}

TEST(Http2Server, RefusesBadResponseFields) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  int32_t id = peer.request(get_request());
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_FALSE(conn.submit_response(id, 200, std::vector<Field>{{"x", "a\r\nb"}}, true));
  EXPECT_FALSE(conn.submit_response(id, 200, std::vector<Field>{{":path", "/"}}, true));
  EXPECT_FALSE(conn.submit_response(id, 200, std::vector<Field>{{"bad name", "v"}}, true));
  EXPECT_FALSE(conn.submit_response(id, 200, std::vector<Field>{{"", "v"}}, true));
  EXPECT_FALSE(conn.submit_response(id, 99, {}, true));
  EXPECT_FALSE(conn.submit_response(id, 600, {}, true));
  EXPECT_FALSE(conn.submit_response(id + 2, 200, {}, true));  // unknown stream
  EXPECT_TRUE(conn.submit_response(id, 200, std::vector<Field>{{"X-Ok", "v"}}, true));
  pump(peer, conn, ev);
  EXPECT_EQ(peer.streams[id].statuses, std::vector<int>{200});
}

TEST(Http2Server, ResponseHeadTooLargeToSendResetsTheStream) {
  Raw r;
  r.open();
  r.send(headers(1, r.hpack.encode(get_request()), true));
  std::string big(70000, 'v');
  ASSERT_TRUE(r.conn.submit_response(1, 200, std::vector<Field>{{"x-big", big}}, true));
  r.send("");
  EXPECT_EQ(find_frame(r.frames, NGHTTP2_HEADERS, 1), nullptr);
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_INTERNAL_ERROR));
  auto closed = of_kind(r.events, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_INTERNAL_ERROR));
  EXPECT_EQ(r.conn.counters().stream_errors, 0u);
  EXPECT_TRUE(r.alive);
}

TEST(Http2Server, GracefulShutdownIsTwoStep) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  int32_t a = peer.request(get_request("/a"));
  ASSERT_TRUE(pump(peer, conn, ev));
  conn.shutdown_graceful();
  ASSERT_TRUE(pump(peer, conn, ev));
  // The notice (2^31-1), then after the PING's ACK the real GOAWAY.
  EXPECT_EQ(peer.goaways, 2);
  EXPECT_EQ(peer.goaway_last, a);
  EXPECT_EQ(peer.goaway_code, 0u);
  EXPECT_FALSE(conn.idle());
  EXPECT_TRUE(conn.wants_read());
  ASSERT_TRUE(conn.submit_response(a, 200, {}, true));
  pump(peer, conn, ev);
  EXPECT_EQ(peer.streams[a].statuses, std::vector<int>{200});
  EXPECT_TRUE(conn.idle());
  EXPECT_FALSE(conn.receive("", 0));  // both sides done
  EXPECT_FALSE(conn.wants_read());
  EXPECT_FALSE(conn.wants_write());
  EXPECT_TRUE(conn.reason().empty());
}

TEST(Http2Server, StreamsAfterTheFinalGoawayAreIgnored) {
  Raw r;
  r.open();
  r.send(headers(1, r.hpack.encode(get_request()), true));
  r.conn.shutdown_graceful();
  r.send("");
  r.send(ping(true).replace(9, 8, "gh-drain"));  // the ACK of our PING
  auto gs = r.frames;
  ASSERT_EQ(count_frames(gs, NGHTTP2_GOAWAY), 2u);
  r.send(headers(3, r.hpack.encode(get_request("/late")), true));
  EXPECT_EQ(of_kind(r.events, EventKind::request_head).size(), 1u);
}

TEST(Http2Server, SecondShutdownCallSkipsThePing) {
  Raw r;
  r.open();
  r.send(headers(1, r.hpack.encode(get_request()), true));
  r.conn.shutdown_graceful();
  r.send("");
  EXPECT_EQ(count_frames(r.frames, NGHTTP2_GOAWAY), 1u);
  EXPECT_EQ(r.goaway()->u32_at(0), 0x7fffffffu);
  r.conn.shutdown_graceful();
  r.send("");
  ASSERT_EQ(count_frames(r.frames, NGHTTP2_GOAWAY), 2u);
  EXPECT_EQ(r.frames.back().type, NGHTTP2_GOAWAY);
  EXPECT_EQ(r.frames.back().u32_at(0), 1u);
  r.conn.shutdown_graceful();
  r.send("");
  EXPECT_EQ(count_frames(r.frames, NGHTTP2_GOAWAY), 2u);
}

TEST(Http2Server, DataForStreamsWeResetDoesNotLeakTheConnectionWindow) {
  Limits l;
  l.connection_window_bytes = 65535;
  l.initial_window_bytes = 65535;
  Raw r(l);
  r.open();
  NV post = {{":method", "POST"}, {":scheme", "https"}, {":authority", "e"}, {":path", "/"}};
  // Three streams, each reset by us, each followed by 20000 bytes in flight.
  uint32_t id = 1;
  for (int i = 0; i < 3; ++i, id += 2) {
    ASSERT_TRUE(r.send(headers(id, r.hpack.encode(post), false) + data(id, std::string(5000, 'a'), false)));
    r.conn.reset_stream(int32_t(id), NGHTTP2_CANCEL);  // 5000 delivered, never consumed
    ASSERT_TRUE(r.send(""));
    ASSERT_TRUE(r.send(data(id, std::string(15000, 'b'), false)));
  }
  // 60000 bytes went to dead streams; the window must have come back.
  ASSERT_TRUE(r.send(headers(id, r.hpack.encode(post), false)));
  ASSERT_TRUE(r.send(data(id, std::string(16384, 'c'), false) + data(id, std::string(16384, 'c'), false)));
  EXPECT_EQ(r.goaway(), nullptr);
}

TEST(Http2Server, ExtendedConnectAcceptedWhenEnabled) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  ASSERT_TRUE(pump(peer, conn, ev));  // SETTINGS exchanged
  EXPECT_EQ(nghttp2_session_get_remote_settings(peer.session(), NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  int32_t id = peer.request({{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
                             {":authority", "e"}, {":path", "/chat"}, {"sec-websocket-version", "13"}},
                            "", {}, false);
  ASSERT_TRUE(pump(peer, conn, ev));
  auto heads = of_kind(ev, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0]->ev.head.method, "CONNECT");
  EXPECT_EQ(heads[0]->ev.head.protocol, "websocket");
  EXPECT_EQ(heads[0]->ev.head.path, "/chat");
  EXPECT_FALSE(heads[0]->ev.end_stream);
  // A tunnel: 200 and data both ways.
  ASSERT_TRUE(conn.submit_response(id, 200, {}, false));
  EXPECT_EQ(conn.submit_data(id, "frame", false), 5u);
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_EQ(peer.streams[id].body, "frame");
}

TEST(Http2Server, ExtendedConnectRefusedWhenDisabled) {
  Limits l;
  l.enable_connect_protocol = false;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "CONNECT"}, {":protocol", "websocket"},
                                    {":scheme", "https"}, {":authority", "e"}, {":path", "/chat"}}),
                 false));
  EXPECT_TRUE(of_kind(r.events, EventKind::request_head).empty());
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_TRUE(r.alive);
}

TEST(Http2Server, PlainConnectHasAuthorityOnly) {
  Raw r;
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "CONNECT"}, {":authority", "db:5432"}}), false));
  auto heads = of_kind(r.events, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0]->ev.head.authority, "db:5432");
  EXPECT_EQ(heads[0]->ev.head.path, "");
  // With :path it is malformed (RFC 9113 8.5).
  r.send(headers(3, r.hpack.encode({{":method", "CONNECT"}, {":authority", "db:5432"}, {":path", "/"}}), false));
  EXPECT_NE(find_frame(r.frames, NGHTTP2_RST_STREAM, 3), nullptr);
}

TEST(Http2Server, MalformedRequestsAreStreamErrors) {
  Raw r;
  r.open();
  struct Case {
    NV nv;
    const char* why;
  } cases[] = {
      {{{":method", "GET"}, {":scheme", "https"}, {":authority", "e"}}, "no :path"},
      {{{":scheme", "https"}, {":authority", "e"}, {":path", "/"}}, "no :method"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":path", "/2"}}, "two :path"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"Upper", "x"}}, "uppercase name"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"connection", "close"}}, "connection"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"te", "gzip"}}, "te not trailers"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"x", " lead"}}, "leading space"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"x", "a\nb"}}, "newline"},
      {{{":method", "GET"}, {":scheme", "https"}, {"x", "1"}, {":path", "/"}}, "pseudo after regular"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":foo", "1"}}, "unknown pseudo"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"content-length", "x1"}}, "bad content-length"},
      {{{":method", "GET"}, {":scheme", "https"}, {":path", ""}}, "empty :path"},
  };
  uint32_t id = 1;
  for (auto& c : cases) {
    r.send(headers(id, r.hpack.encode(c.nv), true));
    EXPECT_NE(find_frame(r.frames, NGHTTP2_RST_STREAM, id), nullptr) << c.why;
    id += 2;
  }
  EXPECT_TRUE(of_kind(r.events, EventKind::request_head).empty());
  EXPECT_TRUE(r.alive);
}

TEST(Http2Server, ContentLengthMismatchIsAStreamError) {
  Raw r;
  r.open();
  NV post = {{":method", "POST"}, {":scheme", "https"}, {":authority", "e"}, {":path", "/"},
             {"content-length", "10"}};
  // Fewer bytes than announced.
  r.send(headers(1, r.hpack.encode(post), false));
  r.send(data(1, "12345", true));
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  auto closed = of_kind(r.events, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_FALSE(closed[0]->ev.peer_reset);
  // More bytes than announced: refused before they are delivered.
  r.send(headers(3, r.hpack.encode(post), false));
  r.send(data(3, std::string(11, 'x'), true));
  f = find_frame(r.frames, NGHTTP2_RST_STREAM, 3);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  for (auto* d : of_kind(r.events, EventKind::request_data)) EXPECT_NE(d->ev.stream_id, 3);
  EXPECT_TRUE(r.alive);
}

TEST(Http2Server, HpackBombOverTheHeaderListLimitIs431) {
  Raw r;
  r.open();
  // One 2500-byte field goes into the dynamic table; then one-byte
  // references to it: a ~2.6 KB block decoding to more than 64 KiB.
  NV nv = bomb();
  std::string block = r.hpack.encode(nv);
  EXPECT_LT(block.size(), 2600u);
  r.send(headers(1, block, true));
  EXPECT_TRUE(of_kind(r.events, EventKind::request_head).empty());
  auto refused = of_kind(r.events, EventKind::request_refused);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0]->ev.status, 431);
  EXPECT_EQ(r.conn.counters().refused_header_lists, 1u);
  EXPECT_TRUE(r.alive);
  // The caller answers 431; the stream then closes normally.
  ASSERT_TRUE(r.conn.submit_response(1, 431, {}, true));
  r.send("");
  const Frame* h = find_frame(r.frames, NGHTTP2_HEADERS, 1);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(of_kind(r.events, EventKind::stream_closed).size(), 1u);
  // The HPACK state is intact: the next request works.
  r.send(headers(3, r.hpack.encode(get_request("/next")), true));
  EXPECT_EQ(of_kind(r.events, EventKind::request_head).size(), 1u);
}

TEST(Http2Server, OversizedHeaderListStillInContinuationEndsTheConnection) {
  Raw r;
  r.open();
  std::string block = r.hpack.encode(bomb());
  // The whole block in HEADERS without END_HEADERS: over the limit with
  // CONTINUATION still to come.
  EXPECT_FALSE(r.send(headers(1, block, true, /*end_headers=*/false)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("CONTINUATION"), std::string_view::npos) << r.conn.reason();
}

TEST(Http2Server, OversizedTrailersResetTheStream) {
  Raw r;
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                                    {":path", "/"}}), false));
  NV tr;
  for (int i = 0; i < 30; ++i) tr.push_back({"x-bomb", std::string(2500, 'b')});
  r.send(headers(1, r.hpack.encode(tr), true));
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_TRUE(of_kind(r.events, EventKind::request_trailers).empty());
  auto closed = of_kind(r.events, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(Http2Server, LargeHeaderBlockInContinuationsUnderTheLimitIsFine) {
  Raw r;
  r.open();
  NV nv = get_request();
  nv.push_back({"x-big", std::string(30000, 'v')});
  std::string block = r.hpack.encode(nv);
  ASSERT_GT(block.size(), 16384u);
  std::string bytes = headers(1, block.substr(0, 16384), true, false);
  bytes += frame(NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, block.substr(16384));
  ASSERT_TRUE(r.send(bytes));
  auto heads = of_kind(r.events, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(field(heads[0]->ev.head, "x-big").size(), 30000u);
}

TEST(Http2Server, ContinuationFloodEndsTheConnection) {
  Limits l;
  l.max_continuation_frames = 4;
  Raw r(l);
  r.open();
  std::string block = r.hpack.encode({{":method", "GET"}, {":scheme", "https"}, {":path", "/"},
                                      {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"},
                                      {"f", "6"}});
  // HEADERS, then one CONTINUATION per few bytes, never END_HEADERS.
  std::string bytes = headers(1, block.substr(0, 3), true, false);
  for (size_t at = 3; at < block.size(); at += 2)
    bytes += frame(NGHTTP2_CONTINUATION, 0, 1, block.substr(at, 2));
  EXPECT_FALSE(r.send(bytes));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("CONTINUATION flood"), std::string_view::npos) << r.conn.reason();
  EXPECT_EQ(r.conn.counters().floods, 1u);
}

TEST(Http2Server, EmptyContinuationFloodIsCounted) {
  Limits l;
  l.max_continuation_frames = 1000;
  l.max_control_frames_per_window = 50;
  Raw r(l);
  r.open();
  std::string bytes = headers(1, r.hpack.encode(get_request()), true, false);
  for (int i = 0; i < 100; ++i) bytes += frame(NGHTTP2_CONTINUATION, 0, 1, "");
  EXPECT_FALSE(r.send(bytes));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("control frame flood"), std::string_view::npos) << r.conn.reason();
}

TEST(Http2Server, RapidResetEndsTheConnection) {
  Limits l;
  l.max_resets_per_window = 10;
  Raw r(l);
  r.open();
  uint32_t id = 1;
  for (int i = 0; i < 10; ++i, id += 2) ASSERT_TRUE(r.send(headers(id, r.hpack.encode(get_request()), true) + rst(id, NGHTTP2_CANCEL)));
  EXPECT_EQ(r.conn.counters().resets_by_peer, 10u);
  // The streams the caller was told of are reported closed by the peer.
  auto closed = of_kind(r.events, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 10u);
  EXPECT_TRUE(closed[0]->ev.peer_reset);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_CANCEL));
  EXPECT_FALSE(r.send(headers(id, r.hpack.encode(get_request()), true) + rst(id, NGHTTP2_CANCEL)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("rapid reset"), std::string_view::npos) << r.conn.reason();
}

TEST(Http2Server, ResetsOfClosedStreamsCountToo) {
  // nghttp2 drops RST_STREAM on a closed stream silently; it still counts.
  Limits l;
  l.max_resets_per_window = 10;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode(get_request()), true));
  ASSERT_TRUE(r.conn.submit_response(1, 200, {}, true));
  r.send("");
  std::string bytes;
  for (int i = 0; i < 10; ++i) bytes += rst(1, NGHTTP2_CANCEL);
  ASSERT_TRUE(r.send(bytes));
  EXPECT_FALSE(r.send(rst(1, NGHTTP2_CANCEL)));
  EXPECT_NE(r.conn.reason().find("rapid reset"), std::string_view::npos);
}

TEST(Http2Server, ResetBudgetIsPerWindow) {
  Limits l;
  l.max_resets_per_window = 10;
  l.budget_window_ms = 1000;
  Raw r(l);
  r.open();
  uint32_t id = 1;
  for (int round = 0; round < 5; ++round) {
    r.now += 1000;
    for (int i = 0; i < 10; ++i, id += 2)
      ASSERT_TRUE(r.send(headers(id, r.hpack.encode(get_request()), true) + rst(id, NGHTTP2_CANCEL)));
  }
  EXPECT_EQ(r.conn.counters().resets_by_peer, 50u);
  EXPECT_EQ(r.goaway(), nullptr);
}

TEST(Http2Server, ProvokedStreamErrorsEndTheConnection) {
  // MadeYouReset (CVE-2025-8671): frames that make us reset streams.
  Limits l;
  l.max_stream_errors_per_window = 6;
  Raw r(l);
  r.open();
  uint32_t id = 1;
  // Content-Length the DATA disagrees with (RFC 9113 8.1.1).
  NV post = {{":method", "POST"}, {":scheme", "https"}, {":authority", "e"}, {":path", "/"},
             {"content-length", "3"}};
  for (int i = 0; i < 2; ++i, id += 2)
    ASSERT_TRUE(r.send(headers(id, r.hpack.encode(post), false) + data(id, "x", true)));
  // WINDOW_UPDATE overflowing a stream's window past 2^31-1 (RFC 9113
  // 6.9.1): FLOW_CONTROL_ERROR.
  for (int i = 0; i < 2; ++i, id += 2)
    ASSERT_TRUE(r.send(headers(id, r.hpack.encode(get_request()), false) +
                       window_update(id, 0x7fffffff)));
  // A malformed request: uppercase field name.
  for (int i = 0; i < 2; ++i, id += 2) {
    NV nv = get_request();
    nv.push_back({"X-Upper", "1"});
    ASSERT_TRUE(r.send(headers(id, r.hpack.encode(nv), true)));
  }
  EXPECT_EQ(r.conn.counters().stream_errors, 6u);
  EXPECT_EQ(count_frames(r.frames, NGHTTP2_RST_STREAM), 6u);
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  f = find_frame(r.frames, NGHTTP2_RST_STREAM, 5);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_FLOW_CONTROL_ERROR));
  f = find_frame(r.frames, NGHTTP2_RST_STREAM, 9);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  // The caller heard of each reset stream it knew.
  EXPECT_EQ(of_kind(r.events, EventKind::stream_closed).size(), 4u);
  // One more is one too many.
  r.send(headers(id, r.hpack.encode(post), false) + data(id, "x", true));
  EXPECT_FALSE(r.alive);
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("stream error flood"), std::string_view::npos) << r.conn.reason();
}

TEST(Http2Server, DataOnAHalfClosedStreamIsAConnectionError) {
  // RFC 9113 5.1 allows a stream error (STREAM_CLOSED); nghttp2 1.52 ends
  // the connection.
  Raw r;
  r.open();
  EXPECT_FALSE(r.send(headers(1, r.hpack.encode(get_request()), true) + data(1, "x", false)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_STREAM_CLOSED));
}

TEST(Http2Server, WindowUpdateZeroOnAStreamIsAConnectionError) {
  // RFC 9113 6.9 allows a stream error; nghttp2 1.52 ends the connection,
  // which leaves MadeYouReset nothing to count here.
  Raw r;
  r.open();
  EXPECT_FALSE(r.send(headers(1, r.hpack.encode(get_request()), false) + window_update(1, 0)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_NE(r.conn.reason().find("window_size_increment"), std::string_view::npos) << r.conn.reason();
}

TEST(Http2Server, CallerResetsAreNotStreamErrors) {
  Limits l;
  l.max_stream_errors_per_window = 2;
  Raw r(l);
  r.open();
  for (uint32_t id = 1; id < 20; id += 2) {
    ASSERT_TRUE(r.send(headers(id, r.hpack.encode(get_request()), true)));
    r.conn.reset_stream(int32_t(id), NGHTTP2_CANCEL);
    ASSERT_TRUE(r.send(""));
  }
  EXPECT_EQ(r.conn.counters().stream_errors, 0u);
  EXPECT_EQ(count_frames(r.frames, NGHTTP2_RST_STREAM), 10u);
  EXPECT_EQ(of_kind(r.events, EventKind::stream_closed).size(), 10u);
}

TEST(Http2Server, SettingsFloodEndsTheConnection) {
  Limits l;
  l.max_control_frames_per_window = 20;
  Raw r(l);
  r.open();  // its SETTINGS and the ACK of ours are the first two
  std::string bytes;
  for (int i = 0; i < 18; ++i) bytes += settings({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}});
  ASSERT_TRUE(r.send(bytes));
  EXPECT_FALSE(r.send(settings({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}})));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(Http2Server, PingFloodEndsTheConnection) {
  Limits l;
  l.max_control_frames_per_window = 20;
  Raw r(l);
  r.open();
  std::string bytes;
  for (int i = 0; i < 30; ++i) bytes += ping();
  EXPECT_FALSE(r.send(bytes));
  // nghttp2 sends the terminating GOAWAY alone: the queued ACKs are dropped.
  EXPECT_EQ(count_frames(r.frames, NGHTTP2_PING), 0u);
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_NE(r.conn.reason().find("control frame flood"), std::string_view::npos);
}

TEST(Http2Server, PriorityEmptyDataAndUnknownFramesAreCounted) {
  Limits l;
  l.max_control_frames_per_window = 1000;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode({{":method", "POST"}, {":scheme", "https"}, {":authority", "e"},
                                    {":path", "/"}}), false));
  uint64_t before = r.conn.counters().control_frames;
  std::string bytes;
  for (int i = 0; i < 10; ++i) bytes += frame(NGHTTP2_PRIORITY, 0, 1, u32(0) + "\x10");
  for (int i = 0; i < 10; ++i) bytes += data(1, "", false);
  for (int i = 0; i < 10; ++i) bytes += frame(0x42, 0, 0, "ext");
  for (int i = 0; i < 10; ++i) bytes += frame(NGHTTP2_PRIORITY_UPDATE, 0, 0, u32(1) + "u=1");
  for (int i = 0; i < 10; ++i) bytes += window_update(0, 1);  // not counted
  ASSERT_TRUE(r.send(bytes));
  EXPECT_EQ(r.conn.counters().control_frames - before, 40u);
  // An empty DATA with END_STREAM is a normal end, not counted.
  r.send(data(1, "", true));
  EXPECT_EQ(r.conn.counters().control_frames - before, 40u);
  // Repeated GOAWAYs are.
  for (int i = 0; i < 5; ++i) r.send(frame(NGHTTP2_GOAWAY, 0, 0, u32(0) + u32(0)));
  EXPECT_EQ(r.conn.counters().control_frames - before, 45u);
  EXPECT_EQ(of_kind(r.events, EventKind::goaway).size(), 5u);
}

TEST(Http2Server, FramesNghttp2IgnoresAreCountedToo) {
  // nghttp2 skips DATA and PRIORITY on a closed stream without a callback;
  // the frame scanner still counts them.
  Limits l;
  l.max_control_frames_per_window = 60;
  Raw r(l);
  r.open();
  r.send(headers(1, r.hpack.encode(get_request()), true));
  ASSERT_TRUE(r.conn.submit_response(1, 200, {}, true));
  r.send("");
  ASSERT_EQ(of_kind(r.events, EventKind::stream_closed).size(), 1u);
  uint64_t before = r.conn.counters().control_frames;
  std::string bytes;
  for (int i = 0; i < 20; ++i) bytes += data(1, "", false);
  for (int i = 0; i < 20; ++i) bytes += frame(NGHTTP2_PRIORITY, 0, 1, u32(0) + "\x10");
  ASSERT_TRUE(r.send(bytes));
  EXPECT_EQ(r.conn.counters().control_frames - before, 40u);
  EXPECT_FALSE(r.send(bytes));
  EXPECT_NE(r.conn.reason().find("control frame flood"), std::string_view::npos);
}

TEST(Http2Server, ConcurrentStreamsOverTheLimit) {
  Limits l;
  l.max_concurrent_streams = 2;
  Raw r(l);
  // Our SETTINGS not acknowledged yet: REFUSED_STREAM (RFC 9113 5.1.2).
  ASSERT_TRUE(r.send(preface()));
  for (uint32_t id = 1; id <= 5; id += 2) r.send(headers(id, r.hpack.encode(get_request()), true));
  EXPECT_EQ(of_kind(r.events, EventKind::request_head).size(), 2u);
  const Frame* f = find_frame(r.frames, NGHTTP2_RST_STREAM, 5);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code(), uint32_t(NGHTTP2_REFUSED_STREAM));
  EXPECT_EQ(r.conn.counters().stream_errors, 1u);
  // Once acknowledged, nghttp2 makes going over a connection error.
  r.send(settings_ack());
  EXPECT_FALSE(r.send(headers(7, r.hpack.encode(get_request()), true)));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_FALSE(r.conn.reason().empty());
}

TEST(Http2Server, Http1BytesInsteadOfThePreface) {
  for (std::string bytes : {std::string("GET / HTTP/1.1\r\nHost: e\r\n\r\n"),
                            std::string("GET / HTTP/1.1\r\nHost: e\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")}) {
    ServerConnection conn;
    EXPECT_FALSE(conn.receive(bytes, 0));
    EXPECT_NE(conn.reason().find("HTTP/1.x"), std::string_view::npos) << conn.reason();
    EXPECT_TRUE(conn.pending_output().empty());
    EXPECT_FALSE(conn.wants_write());
    EXPECT_FALSE(conn.wants_read());
    EXPECT_FALSE(conn.receive(preface(), 0));
  }
  {
    ServerConnection conn;  // one byte at a time
    EXPECT_FALSE(conn.receive("G", 0));
    EXPECT_NE(conn.reason().find("HTTP/1.x"), std::string_view::npos) << conn.reason();
  }
  ServerConnection conn;
  EXPECT_FALSE(conn.receive(std::string(30, '\x16'), 0));  // a TLS record, say
  EXPECT_EQ(conn.reason(), "no HTTP/2 connection preface");
}

TEST(Http2Server, PrefaceOneByteAtATime) {
  ServerConnection conn;
  Hpack hp;
  std::string bytes = preface() + settings_ack() + headers(1, hp.encode(get_request()), true);
  for (char c : bytes) ASSERT_TRUE(conn.receive(std::string_view(&c, 1), 0));
  std::vector<Rec> ev;
  drain(conn, ev);
  EXPECT_EQ(of_kind(ev, EventKind::request_head).size(), 1u);
}

TEST(Http2Server, ClientGoawayIsReported) {
  Raw r;
  r.open();
  r.send(frame(NGHTTP2_GOAWAY, 0, 0, u32(0) + u32(NGHTTP2_NO_ERROR)));
  auto g = of_kind(r.events, EventKind::goaway);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]->ev.error_code, 0u);
  EXPECT_FALSE(r.alive);  // nothing open, nothing more to come
}

TEST(Http2Server, RefusedRequestBodyIsDiscardedAndItsWindowReturned) {
  Limits l;
  l.max_header_list_bytes = 200;
  l.initial_window_bytes = 1000;
  l.connection_window_bytes = 65535;
  Raw r(l);
  r.open();
  NV nv = {{":method", "POST"}, {":scheme", "https"}, {":authority", "e"}, {":path", "/"},
           {"x-big", std::string(300, 'v')}};
  r.send(headers(1, r.hpack.encode(nv), false));
  ASSERT_EQ(of_kind(r.events, EventKind::request_refused).size(), 1u);
  r.frames.clear();
  r.send(data(1, std::string(900, 'd'), false));
  EXPECT_TRUE(of_kind(r.events, EventKind::request_data).empty());
  EXPECT_NE(find_frame(r.frames, NGHTTP2_WINDOW_UPDATE, 1), nullptr);
}

TEST(Http2Server, ResetByCallerStopsDataAndClosesTheStream) {
  ServerConnection conn;
  Peer peer(false);
  std::vector<Rec> ev;
  int32_t id = peer.request(get_request());
  ASSERT_TRUE(pump(peer, conn, ev));
  ASSERT_TRUE(conn.submit_response(id, 200, {}, false));
  conn.reset_stream(id, NGHTTP2_CANCEL);
  EXPECT_EQ(conn.submit_data(id, "x", false), 0u);
  EXPECT_FALSE(conn.submit_trailers(id, {}));
  pump(peer, conn, ev);
  EXPECT_EQ(peer.streams[id].reset, uint32_t(NGHTTP2_CANCEL));
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_FALSE(closed[0]->ev.peer_reset);
  EXPECT_TRUE(conn.idle());
  // Calls naming a closed stream do nothing.
  conn.consume(id, 10);
  conn.reset_stream(id, NGHTTP2_CANCEL);
  EXPECT_FALSE(conn.submit_response(id, 200, {}, true));
}

TEST(Http2Server, TerminateSendsGoaway) {
  Raw r;
  r.open();
  r.conn.terminate(NGHTTP2_INTERNAL_ERROR, "shutting down now");
  EXPECT_FALSE(r.send(""));
  ASSERT_NE(r.goaway(), nullptr);
  EXPECT_EQ(r.goaway()->code(), uint32_t(NGHTTP2_INTERNAL_ERROR));
  EXPECT_EQ(r.conn.reason(), "shutting down now");
  EXPECT_FALSE(r.conn.wants_write());
}
