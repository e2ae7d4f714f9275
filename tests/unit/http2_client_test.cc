// ClientConnection driven by a real nghttp2 server session, and against our
// own ServerConnection.
#include <gtest/gtest.h>

#include "http2_test_peer.h"

using namespace h2test;
using gh::http::Field;
using gh::http2::ClientConnection;
using gh::http2::Limits;
using gh::http2::ServerConnection;

namespace {

ClientConnection::Request get(std::string_view path = "/") {
  ClientConnection::Request r;
  r.method = "GET";
  r.scheme = "https";
  r.authority = "backend.example";
  r.path = path;
  return r;
}

}  // namespace

TEST(Http2Client, PrefaceComesFirst) {
  ClientConnection conn;
  std::string out = take_output(conn);
  ASSERT_GE(out.size(), 24u);
  EXPECT_EQ(out.substr(0, 24), NGHTTP2_CLIENT_MAGIC);
  auto fs = parse(out);
  ASSERT_FALSE(fs.empty());
  EXPECT_EQ(fs[0].type, NGHTTP2_SETTINGS);
}

TEST(Http2Client, GetWithResponseBodyAndTrailers) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  std::vector<Field> fields = {{"Accept", "*/*"}, {"Host", "ignored.example"},
                               {"Connection", "keep-alive"}, {"TE", "trailers"}};
  auto req = get("/q?x=1");
  req.fields = fields;
  int32_t id = conn.submit_request(req, true);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(pump(peer, conn, ev));
  ASSERT_EQ(peer.requests.size(), 1u);
  NV want = {{":method", "GET"}, {":scheme", "https"}, {":authority", "backend.example"},
             {":path", "/q?x=1"}, {"accept", "*/*"}, {"te", "trailers"}};
  EXPECT_EQ(peer.streams[id].head, want);

  peer.respond(id, {{":status", "200"}, {"content-type", "text/plain"}}, "hello body",
               {{"grpc-status", "0"}});
  ASSERT_TRUE(pump(peer, conn, ev));
  auto heads = of_kind(ev, EventKind::response_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0]->ev.head.status, 200);
  EXPECT_EQ(field(heads[0]->ev.head, "content-type"), "text/plain");
  EXPECT_FALSE(heads[0]->ev.end_stream);
  std::string body;
  for (auto* d : of_kind(ev, EventKind::response_data)) {
    body += d->data;
    conn.consume(id, d->data.size());
  }
  EXPECT_EQ(body, "hello body");
  auto tr = of_kind(ev, EventKind::response_trailers);
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(field(tr[0]->ev.head, "grpc-status"), "0");
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, 0u);
  EXPECT_TRUE(conn.idle());
}

TEST(Http2Client, InterimResponses) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  nghttp2_nv nv100[] = {{(uint8_t*)":status", (uint8_t*)"103", 7, 3, 0},
                        {(uint8_t*)"link", (uint8_t*)"</a>", 4, 4, 0}};
  nghttp2_submit_headers(peer.session(), 0, id, nullptr, nv100, 2, nullptr);
  peer.respond(id, {{":status", "204"}});
  ASSERT_TRUE(pump(peer, conn, ev));
  auto interim = of_kind(ev, EventKind::interim_response);
  ASSERT_EQ(interim.size(), 1u);
  EXPECT_EQ(interim[0]->ev.head.status, 103);
  EXPECT_EQ(field(interim[0]->ev.head, "link"), "</a>");
  auto heads = of_kind(ev, EventKind::response_head);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0]->ev.head.status, 204);
  EXPECT_TRUE(heads[0]->ev.end_stream);
}

TEST(Http2Client, RequestBodyFollowsThePeersWindow) {
  ClientConnection conn;
  Peer peer(true, /*auto_window=*/false, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000}});
  std::vector<Rec> ev;
  ASSERT_TRUE(pump(peer, conn, ev));  // SETTINGS exchanged
  ClientConnection::Request req = get("/up");
  req.method = "POST";
  int32_t id = conn.submit_request(req, false);
  ASSERT_GT(id, 0);
  std::string body(50000, 'p');
  size_t sent = conn.submit_data(id, body, true);
  EXPECT_EQ(sent, 1000u + 16384u);
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_EQ(peer.streams[id].body.size(), 1000u);
  for (int i = 0; i < 1000 && !peer.streams[id].ended; ++i) {
    peer.consume(id, peer.streams[id].body.size());
    ASSERT_TRUE(pump(peer, conn, ev));
    if (sent < body.size()) sent += conn.submit_data(id, std::string_view(body).substr(sent), true);
    ASSERT_TRUE(pump(peer, conn, ev));
  }
  EXPECT_EQ(peer.streams[id].body, body);
  EXPECT_FALSE(of_kind(ev, EventKind::stream_writable).empty());
}

TEST(Http2Client, RequestTrailers) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  ClientConnection::Request req = get("/grpc.Svc/M");
  req.method = "POST";
  std::vector<Field> f = {{"content-type", "application/grpc"}, {"te", "trailers"}};
  req.fields = f;
  int32_t id = conn.submit_request(req, false);
  EXPECT_EQ(conn.submit_data(id, "msg", false), 3u);
  ASSERT_TRUE(conn.submit_trailers(id, std::vector<Field>{{"x-checksum", "42"}}));
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_EQ(peer.streams[id].body, "msg");
  NV want = {{"x-checksum", "42"}};
  EXPECT_EQ(peer.streams[id].trailers, want);
  EXPECT_TRUE(peer.streams[id].ended);
}

TEST(Http2Client, BadRequestsAreRefused) {
  ClientConnection conn;
  auto r = get();
  r.method = "";
  EXPECT_EQ(conn.submit_request(r, true), -1);
  r = get();
  r.path = "";
  EXPECT_EQ(conn.submit_request(r, true), -1);
  r = get("/a b");
  EXPECT_EQ(conn.submit_request(r, true), -1);
  r = get();
  r.authority = "x\r\ny";
  EXPECT_EQ(conn.submit_request(r, true), -1);
  r = get();
  std::vector<Field> bad = {{"x", "a\nb"}};
  r.fields = bad;
  EXPECT_EQ(conn.submit_request(r, true), -1);
  // Plain CONNECT: authority only.
  ClientConnection::Request c;
  c.method = "CONNECT";
  EXPECT_EQ(conn.submit_request(c, false), -1);
  c.authority = "db:5432";
  EXPECT_GT(conn.submit_request(c, false), 0);
}

TEST(Http2Client, ExtendedConnectNeedsTheServersSetting) {
  ClientConnection::Request ws;
  ws.method = "CONNECT";
  ws.protocol = "websocket";
  ws.scheme = "https";
  ws.authority = "e";
  ws.path = "/chat";
  {
    ClientConnection conn;
    Peer peer(true);
    std::vector<Rec> ev;
    ASSERT_TRUE(pump(peer, conn, ev));
    EXPECT_FALSE(conn.extended_connect_allowed());
    EXPECT_EQ(conn.submit_request(ws, false), -1);
  }
  ClientConnection conn;
  Peer peer(true, true, {{NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}});
  std::vector<Rec> ev;
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_TRUE(conn.extended_connect_allowed());
  int32_t id = conn.submit_request(ws, false);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(pump(peer, conn, ev));
  NV want = {{":method", "CONNECT"}, {":scheme", "https"}, {":authority", "e"}, {":path", "/chat"},
             {":protocol", "websocket"}};
  EXPECT_EQ(peer.streams[id].head, want);
}

TEST(Http2Client, ConcurrencyFollowsTheServersSetting) {
  ClientConnection conn;
  Peer peer(true, true, {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1}});
  std::vector<Rec> ev;
  EXPECT_TRUE(conn.can_submit());
  ASSERT_TRUE(pump(peer, conn, ev));
  int32_t a = conn.submit_request(get("/a"), true);
  ASSERT_GT(a, 0);
  EXPECT_FALSE(conn.can_submit());
  EXPECT_EQ(conn.submit_request(get("/b"), true), -1);
  ASSERT_TRUE(pump(peer, conn, ev));
  peer.respond(a, {{":status", "200"}});
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_TRUE(conn.can_submit());
}

TEST(Http2Client, GoawayRefusesStreamsAboveItsLastId) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t a = conn.submit_request(get("/a"), true);
  int32_t b = conn.submit_request(get("/b"), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  nghttp2_submit_goaway(peer.session(), 0, a, NGHTTP2_NO_ERROR, nullptr, 0);
  peer.respond(a, {{":status", "200"}});
  pump(peer, conn, ev);
  auto g = of_kind(ev, EventKind::goaway);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]->ev.last_stream_id, a);
  EXPECT_FALSE(conn.can_submit());
  bool b_refused = false, a_done = false;
  for (auto* c : of_kind(ev, EventKind::stream_closed)) {
    if (c->ev.stream_id == b) b_refused = c->ev.error_code == NGHTTP2_REFUSED_STREAM;
    if (c->ev.stream_id == a) a_done = c->ev.error_code == 0;
  }
  EXPECT_TRUE(b_refused);
  EXPECT_TRUE(a_done);
  EXPECT_EQ(of_kind(ev, EventKind::response_head).size(), 1u);
}

TEST(Http2Client, RequestsNotYetSentWhenGoawayArrivesAreRefused) {
  ClientConnection conn;
  int32_t a = conn.submit_request(get("/a"), true);
  int32_t b = conn.submit_request(get("/b"), true);
  // Nothing written yet; the server's SETTINGS and GOAWAY(0) arrive.
  ASSERT_FALSE(conn.receive(settings({}) + frame(NGHTTP2_GOAWAY, 0, 0, u32(0) + u32(0)), 0));
  std::vector<Rec> ev;
  drain(conn, ev);
  take_output(conn);
  drain(conn, ev);
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0]->ev.stream_id, a);
  EXPECT_EQ(closed[1]->ev.stream_id, b);
  for (auto* c : closed) EXPECT_EQ(c->ev.error_code, uint32_t(NGHTTP2_REFUSED_STREAM));
  EXPECT_TRUE(conn.idle());
}

TEST(Http2Client, ServerResetIsReported) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  nghttp2_submit_rst_stream(peer.session(), 0, id, NGHTTP2_INTERNAL_ERROR);
  ASSERT_TRUE(pump(peer, conn, ev));
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_INTERNAL_ERROR));
  EXPECT_TRUE(closed[0]->ev.peer_reset);
}

TEST(Http2Client, OversizedResponseHeadResetsTheStream) {
  Limits l;
  l.max_header_list_bytes = 1000;
  ClientConnection conn(l);
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  peer.respond(id, {{":status", "200"}, {"x-big", std::string(2000, 'v')}});
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_TRUE(of_kind(ev, EventKind::response_head).empty());
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_FALSE(closed[0]->ev.peer_reset);
}

TEST(Http2Client, ResponseContentLengthMismatchIsAStreamError) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  peer.respond(id, {{":status", "200"}, {"content-length", "100"}}, "short");
  ASSERT_TRUE(pump(peer, conn, ev));
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]->ev.error_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
}

TEST(Http2Client, BodyOn204OrHeadResponseIsAStreamError) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t a = conn.submit_request(get("/a"), true);
  auto head = get("/b");
  head.method = "HEAD";
  int32_t b = conn.submit_request(head, true);
  ASSERT_TRUE(pump(peer, conn, ev));
  peer.respond(a, {{":status", "204"}}, "body");
  peer.respond(b, {{":status", "200"}, {"content-length", "4"}}, "body");
  pump(peer, conn, ev);
  EXPECT_TRUE(of_kind(ev, EventKind::response_data).empty());
  auto closed = of_kind(ev, EventKind::stream_closed);
  ASSERT_EQ(closed.size(), 2u);
  for (auto* c : closed) EXPECT_EQ(c->ev.error_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
}

TEST(Http2Client, ResponseWindowReopensOnlyAfterConsume) {
  Limits l;
  l.initial_window_bytes = 20000;
  ClientConnection conn(l);
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  ASSERT_TRUE(pump(peer, conn, ev));
  peer.respond(id, {{":status", "200"}}, std::string(100000, 'r'));
  ASSERT_TRUE(pump(peer, conn, ev));
  size_t got = 0;
  for (auto* d : of_kind(ev, EventKind::response_data)) got += d->data.size();
  EXPECT_EQ(got, 20000u);  // the window, no more, until we consume
  ev.clear();
  for (int i = 0; i < 100 && got < 100000; ++i) {
    conn.consume(id, 20000);
    ASSERT_TRUE(pump(peer, conn, ev));
    for (auto* d : of_kind(ev, EventKind::response_data)) got += d->data.size();
    ev.clear();
  }
  EXPECT_EQ(got, 100000u);
}

TEST(Http2Client, GracefulShutdownLetsStreamsFinish) {
  ClientConnection conn;
  Peer peer(true);
  std::vector<Rec> ev;
  int32_t id = conn.submit_request(get(), true);
  conn.shutdown_graceful();
  ASSERT_TRUE(pump(peer, conn, ev));
  EXPECT_TRUE(peer.goaway);
  EXPECT_FALSE(conn.can_submit());
  peer.respond(id, {{":status", "200"}}, "done");
  pump(peer, conn, ev);
  EXPECT_EQ(of_kind(ev, EventKind::response_head).size(), 1u);
  EXPECT_TRUE(conn.idle());
  EXPECT_FALSE(conn.wants_read());
}

// Our client against our server: the shapes fit each other.
TEST(Http2Client, AgainstOurServer) {
  ClientConnection client;
  ServerConnection server;
  std::vector<Rec> cev, sev;
  auto move_bytes = [&] {
    for (int i = 0; i < 100; ++i) {
      bool moved = false;
      std::string_view c = client.pending_output();
      if (!c.empty()) {
        std::string copy(c);
        client.output_written(c.size());
        ASSERT_TRUE(server.receive(copy, 0));
        drain(server, sev);
        moved = true;
      }
      std::string_view s = server.pending_output();
      if (!s.empty()) {
        std::string copy(s);
        server.output_written(s.size());
        ASSERT_TRUE(client.receive(copy, 0));
        drain(client, cev);
        moved = true;
      }
      drain(client, cev);
      drain(server, sev);
      if (!moved) break;
    }
  };
  ClientConnection::Request req = get("/echo");
  req.method = "POST";
  std::vector<Field> f = {{"cookie", "a=1"}, {"cookie", "b=2"}};
  req.fields = f;
  int32_t cid = client.submit_request(req, false);
  ASSERT_EQ(client.submit_data(cid, "ping", false), 4u);
  ASSERT_TRUE(client.submit_trailers(cid, std::vector<Field>{{"x-t", "1"}}));
  move_bytes();
  auto heads = of_kind(sev, EventKind::request_head);
  ASSERT_EQ(heads.size(), 1u);
  int32_t sid = heads[0]->ev.stream_id;
  EXPECT_EQ(heads[0]->ev.head.path, "/echo");
  EXPECT_EQ(field(heads[0]->ev.head, "cookie"), "a=1; b=2");
  auto data = of_kind(sev, EventKind::request_data);
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0]->data, "ping");
  server.consume(sid, 4);
  EXPECT_EQ(of_kind(sev, EventKind::request_trailers).size(), 1u);
  ASSERT_TRUE(server.submit_response(sid, 200, std::vector<Field>{{"x-r", "1"}}, false));
  EXPECT_EQ(server.submit_data(sid, "pong", false), 4u);
  ASSERT_TRUE(server.submit_trailers(sid, std::vector<Field>{{"grpc-status", "0"}}));
  move_bytes();
  auto rh = of_kind(cev, EventKind::response_head);
  ASSERT_EQ(rh.size(), 1u);
  EXPECT_EQ(field(rh[0]->ev.head, "x-r"), "1");
  auto rd = of_kind(cev, EventKind::response_data);
  ASSERT_EQ(rd.size(), 1u);
  EXPECT_EQ(rd[0]->data, "pong");
  auto rt = of_kind(cev, EventKind::response_trailers);
  ASSERT_EQ(rt.size(), 1u);
  EXPECT_EQ(field(rt[0]->ev.head, "grpc-status"), "0");
  EXPECT_EQ(of_kind(cev, EventKind::stream_closed).size(), 1u);
  EXPECT_EQ(of_kind(sev, EventKind::stream_closed).size(), 1u);
  EXPECT_TRUE(client.idle());
  EXPECT_TRUE(server.idle());
}
