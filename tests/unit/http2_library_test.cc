// What nghttp2 as installed (Debian's 1.52.0 with the security backports)
// does by itself, without our codec: the backstops behind our budgets. If
// an upgrade changes these, the notes in src/http2 need a look.
#include <gtest/gtest.h>

#include "http2_test_peer.h"

using namespace h2test;

TEST(Http2Library, RapidResetBackstopIs1000ThenInternalError) {
  // nghttp2_option_set_stream_reset_rate_limit, default burst 1000, 33/s
  // (backported to 1.52.0-1+deb12u1 for CVE-2023-44487).
  Peer srv(true);
  srv.out();
  Hpack hp;
  srv.in(preface() + settings_ack());
  uint32_t id = 1;
  int resets = 0;
  const Frame* g = nullptr;
  std::vector<Frame> fs;
  for (; resets < 1100; ++resets, id += 2) {
    std::string b = headers(id, hp.encode(get_request()), true) + rst(id, NGHTTP2_CANCEL);
    ASSERT_GE(nghttp2_session_mem_recv(srv.session(), (const uint8_t*)b.data(), b.size()), 0);
    fs = parse(srv.out());
    if ((g = find_frame(fs, NGHTTP2_GOAWAY))) break;
  }
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(resets, 1000);
  EXPECT_EQ(g->code(), uint32_t(NGHTTP2_INTERNAL_ERROR));
}

TEST(Http2Library, ContinuationBackstopIs8AndSendsNoGoaway) {
  // nghttp2_option_set_max_continuations, default 8 (backported for
  // CVE-2024-28182): a fatal error from mem_recv, no GOAWAY queued.
  Peer srv(true);
  srv.out();
  Hpack hp;
  srv.in(preface() + settings_ack());
  std::string block = hp.encode({{":method", "GET"}, {":scheme", "https"}, {":path", "/"},
                                 {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}});
  ASSERT_GE(block.size(), 20u);
  std::string bytes = headers(1, block.substr(0, 2), true, false);
  for (int i = 0; i < 9; ++i) bytes += frame(NGHTTP2_CONTINUATION, 0, 1, block.substr(2 + i * 2, 2));
  ssize_t rv = nghttp2_session_mem_recv(srv.session(), (const uint8_t*)bytes.data(), bytes.size());
  EXPECT_EQ(rv, ssize_t(NGHTTP2_ERR_TOO_MANY_CONTINUATIONS));
  EXPECT_EQ(find_frame(parse(srv.out()), NGHTTP2_GOAWAY), nullptr);
}

TEST(Http2Library, NoHeaderListLimitOfItsOwn) {
  // SETTINGS_MAX_HEADER_LIST_SIZE is only advertised by nghttp2: a server
  // session takes a 100 KB header list (our codec refuses it, 431).
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 1000}};
  Peer srv(true, true, {iv[0]});
  srv.out();
  Hpack hp;
  srv.in(preface() + settings_ack());
  NV nv = get_request();
  for (int i = 0; i < 40; ++i) nv.push_back({"x-bomb", std::string(2500, 'b')});
  srv.in(headers(1, hp.encode(nv), true));
  EXPECT_EQ(srv.streams[1].head.size(), nv.size());
}
