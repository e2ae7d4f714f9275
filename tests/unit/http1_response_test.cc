// parse_response: one table row per case; every refusal is a 502.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "http1/parser.h"

using namespace std::string_literals;
using gh::http1::BodyKind;
using gh::http1::Limits;
using gh::http1::parse_response;
using gh::http1::ParseError;
using gh::http1::ParseStatus;
using gh::http1::ResponseHead;

namespace http1_response_test {

constexpr auto kOk = ParseStatus::complete;
constexpr auto kMore = ParseStatus::incomplete;
constexpr auto kErr = ParseStatus::error;

using Check = std::function<void(const ResponseHead&)>;

struct Row {
  std::string name;
  std::string in;
  bool head = false;             // the request was HEAD
  ParseStatus want = kOk;
  const char* detail = nullptr;  // expected ParseError::detail when set
  BodyKind body = BodyKind::none;  // expected framing when complete
  Check check;
  Limits lim{};
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

Row ok(std::string name, std::string in, BodyKind body, Check check = nullptr, bool head = false) {
  return Row{std::move(name), std::move(in), head, kOk, nullptr, body, std::move(check), {}};
}
Row bad(std::string name, std::string in, const char* detail = nullptr, Limits lim = {}) {
  return Row{std::move(name), std::move(in), false, kErr, detail, BodyKind::none, nullptr, lim};
}
Row more(std::string name, std::string in) {
  return Row{std::move(name), std::move(in), false, kMore, nullptr, BodyKind::none, nullptr, {}};
}

const std::string k200 = "HTTP/1.1 200 OK\r\n";

std::vector<Row> rows() {
  using B = BodyKind;
  std::vector<Row> r;
  // ---- status line ----
  r.push_back(ok("simple_cl", k200 + "Content-Length: 5\r\n\r\n", B::content_length, [](const ResponseHead& h) {
    EXPECT_EQ(h.version_minor, 1);
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.reason, "OK");
    EXPECT_EQ(h.content_length, 5u);
    ASSERT_EQ(h.headers.size(), 1u);
    EXPECT_EQ(h.headers[0].name, "Content-Length");
  }));
  r.push_back(ok("http10", "HTTP/1.0 200 OK\r\n\r\n", B::until_close,
                 [](const ResponseHead& h) { EXPECT_EQ(h.version_minor, 0); }));
  r.push_back(ok("reason_with_spaces_tab_obs_text", "HTTP/1.1 404 Not \tFound \xc3\xa9 \r\n\r\n", B::until_close,
                 [](const ResponseHead& h) { EXPECT_EQ(h.reason, "Not \tFound \xc3\xa9 "); }));
  r.push_back(ok("reason_empty_with_space", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", B::content_length,
                 [](const ResponseHead& h) { EXPECT_EQ(h.reason, ""); }));
  r.push_back(ok("reason_missing_without_space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", B::content_length,
                 [](const ResponseHead& h) { EXPECT_EQ(h.status, 200); }));
  r.push_back(ok("status_599", "HTTP/1.1 599 X\r\n\r\n", B::until_close));
  r.push_back(bad("status_600", "HTTP/1.1 600 X\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_099", "HTTP/1.1 099 X\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_two_digits", "HTTP/1.1 20 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_four_digits", "HTTP/1.1 2000 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_not_digits", "HTTP/1.1 2x0 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_two_spaces", "HTTP/1.1  200 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("status_tab", "HTTP/1.1\t200 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("version_12", "HTTP/1.2 200 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("version_2", "HTTP/2 200 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("version_lowercase", "http/1.1 200 OK\r\n\r\n", "invalid status line"));
  r.push_back(bad("version_http09_body", "<html>hello</html>\r\n\r\n", "invalid status line"));
  r.push_back(bad("reason_ctl", "HTTP/1.1 200 O\x01K\r\n\r\n", "invalid reason phrase"));
  r.push_back(bad("reason_nul", "HTTP/1.1 200 O\0K\r\n\r\n"s, "invalid reason phrase"));
  r.push_back(bad("reason_bare_cr", "HTTP/1.1 200 O\rK\r\n\r\n", "invalid reason phrase"));
  r.push_back(bad("empty_status_line", "\r\n\r\n", "invalid status line"));
  r.push_back(bad("leading_crlf", "\r\nHTTP/1.1 200 OK\r\n\r\n", "invalid status line"));

  // ---- framing (RFC 9112 6.3) ----
  r.push_back(ok("no_framing_until_close", k200 + "X: y\r\n\r\n", B::until_close));
  r.push_back(ok("te_chunked", k200 + "Transfer-Encoding: chunked\r\n\r\n", B::chunked,
                 [](const ResponseHead& h) { EXPECT_FALSE(h.te_other_codings); }));
  r.push_back(ok("te_chunked_case_ows", k200 + "transfer-encoding:  CHUNKED \r\n\r\n", B::chunked));
  r.push_back(ok("te_gzip_chunked", k200 + "Transfer-Encoding: gzip, chunked\r\n\r\n", B::chunked,
                 [](const ResponseHead& h) { EXPECT_TRUE(h.te_other_codings); }));
  r.push_back(ok("te_split_over_fields", k200 + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                 B::chunked, [](const ResponseHead& h) { EXPECT_TRUE(h.te_other_codings); }));
  r.push_back(ok("te_empty_elements_ignored", k200 + "Transfer-Encoding: ,gzip,,chunked,\r\n\r\n", B::chunked));
  r.push_back(ok("te_gzip_only_until_close", k200 + "Transfer-Encoding: gzip\r\n\r\n", B::until_close,
                 [](const ResponseHead& h) { EXPECT_TRUE(h.te_other_codings); }));
  r.push_back(ok("te_chunked_not_last_until_close", k200 + "Transfer-Encoding: chunked, gzip\r\n\r\n", B::until_close,
                 [](const ResponseHead& h) { EXPECT_TRUE(h.te_other_codings); }));
  r.push_back(bad("te_chunked_twice", k200 + "Transfer-Encoding: chunked, chunked\r\n\r\n", "invalid transfer-encoding"));
  r.push_back(bad("te_chunked_twice_over_fields", k200 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "invalid transfer-encoding"));
  r.push_back(bad("te_param", k200 + "Transfer-Encoding: chunked;x=1\r\n\r\n", "invalid transfer-encoding"));
  r.push_back(bad("te_not_token", k200 + "Transfer-Encoding: \"chunked\"\r\n\r\n", "invalid transfer-encoding"));
  r.push_back(bad("te_empty", k200 + "Transfer-Encoding:\r\n\r\n", "empty transfer-encoding"));
  r.push_back(bad("te_only_commas", k200 + "Transfer-Encoding: , ,\r\n\r\n", "empty transfer-encoding"));
  r.push_back(bad("te_vtab", k200 + "Transfer-Encoding: \x0b" "chunked\r\n\r\n"));
  r.push_back(bad("te_space_before_colon", k200 + "Transfer-Encoding : chunked\r\n\r\n", "whitespace before colon"));
  r.push_back(bad("te_and_cl", k200 + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                  "content-length with transfer-encoding"));
  r.push_back(bad("cl_and_te", k200 + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "content-length with transfer-encoding"));
  r.push_back(bad("te_on_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "transfer-encoding on http/1.0"));
  r.push_back(ok("cl_zero", k200 + "Content-Length: 0\r\n\r\n", B::content_length));
  r.push_back(ok("cl_max", k200 + "Content-Length: 4611686018427387904\r\n\r\n", B::content_length));
  r.push_back(bad("cl_over_max", k200 + "Content-Length: 4611686018427387905\r\n\r\n", "invalid content-length"));
  r.push_back(bad("cl_plus", k200 + "Content-Length: +5\r\n\r\n", "invalid content-length"));
  r.push_back(bad("cl_list", k200 + "Content-Length: 5, 5\r\n\r\n", "invalid content-length"));
  r.push_back(bad("cl_empty", k200 + "Content-Length:\r\n\r\n", "invalid content-length"));
  r.push_back(bad("cl_hex", k200 + "Content-Length: 0x5\r\n\r\n", "invalid content-length"));
  r.push_back(bad("cl_duplicate_equal", k200 + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", "duplicate content-length"));
  r.push_back(bad("cl_duplicate_different", k200 + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
                  "duplicate content-length"));
  // No body, whatever the framing headers say (they are still checked).
  r.push_back(ok("head_with_cl", k200 + "Content-Length: 100\r\n\r\n", B::none,
                 [](const ResponseHead& h) { EXPECT_EQ(h.content_length, 100u); }, true));
  r.push_back(ok("head_with_te", k200 + "Transfer-Encoding: chunked\r\n\r\n", B::none, nullptr, true));
  r.push_back(ok("head_without_framing", k200 + "\r\n", B::none, nullptr, true));
  r.push_back(ok("status_204_with_cl", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", B::none));
  r.push_back(ok("status_304_with_cl", "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", B::none));
  r.push_back(ok("status_100", "HTTP/1.1 100 Continue\r\n\r\n", B::none));
  r.push_back(ok("status_103", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", B::none));
  r.push_back(ok("status_101_upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                 B::none, [](const ResponseHead& h) {
                   EXPECT_TRUE(h.conn_upgrade);
                   EXPECT_EQ(h.upgrade, "websocket");
                 }));
  r.push_back(ok("status_205", "HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n", B::content_length));
  r.push_back(bad("status_304_with_cl_and_te", "HTTP/1.1 304 X\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "content-length with transfer-encoding"));
  r.push_back(bad("head_with_bad_cl", k200 + "Content-Length: x\r\n\r\n", "invalid content-length"));

  // ---- other fields ----
  r.push_back(ok("connection_flags", k200 + "Connection: close\r\nConnection: keep-alive\r\n\r\n", B::until_close,
                 [](const ResponseHead& h) {
                   EXPECT_TRUE(h.conn_close);
                   EXPECT_TRUE(h.conn_keep_alive);
                   EXPECT_FALSE(h.conn_upgrade);
                 }));
  r.push_back(bad("upgrade_duplicate", k200 + "Upgrade: a\r\nUpgrade: b\r\n\r\n", "duplicate upgrade"));
  r.push_back(ok("value_ows_trimmed", k200 + "Set-Cookie:  a=b; Path=/ \t\r\n\r\n", B::until_close,
                 [](const ResponseHead& h) { EXPECT_EQ(h.headers[0].value, "a=b; Path=/"); }));
  r.push_back(bad("bare_lf_status_line", "HTTP/1.1 200 OK\nX: y\r\n\r\n", "bare lf"));
  r.push_back(bad("bare_lf_header", k200 + "X: y\n\r\n", "bare lf"));
  r.push_back(bad("bare_lf_only", "HTTP/1.1 200 OK\n\n", "bare lf"));
  r.push_back(bad("bare_cr_value", k200 + "X: a\rb\r\n\r\n", "bare cr"));
  r.push_back(bad("bare_cr_line", k200 + "\rX: y\r\n\r\n", "bare cr"));
  r.push_back(bad("obs_fold", k200 + "X: a\r\n b\r\n\r\n", "obs-fold"));
  r.push_back(bad("nul_in_value", k200 + "X: a\0\r\n\r\n"s, "invalid character in header value"));
  r.push_back(bad("space_in_name", k200 + "X Y: a\r\n\r\n", "invalid header name"));
  r.push_back(bad("space_before_colon", k200 + "X-Y : a\r\n\r\n", "whitespace before colon"));
  {
    Limits l;
    l.max_head = 64;
    r.push_back(bad("head_too_large", k200 + "X: " + std::string(100, 'a') + "\r\n\r\n", "response head too large", l));
    r.push_back(bad("head_too_large_incomplete", k200 + "X: " + std::string(100, 'a'), "response head too large", l));
    Limits m;
    m.max_headers = 2;
    r.push_back(bad("too_many_headers", k200 + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", "too many header fields", m));
  }

  // ---- incomplete, and early errors ----
  r.push_back(more("empty", ""));
  r.push_back(more("partial_status", "HTTP/1.1 2"));
  r.push_back(more("status_line_only", k200));
  r.push_back(more("half_end", k200 + "X: y\r\n\r"));
  r.push_back(bad("early_bad_version", "HTTP/2", "invalid status line"));
  r.push_back(bad("early_bad_status", "HTTP/1.1 6", "invalid status line"));
  r.push_back(bad("early_garbage", "<htm", "invalid status line"));
  r.push_back(bad("early_bare_lf", k200 + "X: y\nZ", "bare lf"));
  return r;
}

bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

class ResponseRows : public testing::TestWithParam<Row> {};

TEST_P(ResponseRows, Parses) {
  const Row& row = GetParam();
  ResponseHead h;
  ParseError err;
  const ParseStatus st = parse_response(row.in, h, row.head, row.lim, err);
  ASSERT_EQ(st, row.want) << "detail: " << err.detail;
  if (st == kErr) {
    EXPECT_EQ(err.status, 502);
    if (row.detail) {
      EXPECT_STREQ(err.detail, row.detail);
    }
  }
  if (st != kOk) return;
  EXPECT_EQ(h.body, row.body);
  EXPECT_EQ(h.head_size, row.in.size());
  EXPECT_TRUE(inside(h.reason, row.in) && inside(h.upgrade, row.in));
  for (const auto& f : h.headers) EXPECT_TRUE(inside(f.name, row.in) && inside(f.value, row.in));
  if (row.check) row.check(h);
}

TEST_P(ResponseRows, EveryPrefixOfAValidHeadIsIncomplete) {
  const Row& row = GetParam();
  if (row.want != kOk) return;
  ResponseHead h;
  ParseError err;
  for (size_t i = 0; i < row.in.size(); ++i) {
    const std::string prefix = row.in.substr(0, i);
    ASSERT_EQ(parse_response(prefix, h, row.head, row.lim, err), kMore) << "prefix " << i << ": " << err.detail;
  }
}

TEST_P(ResponseRows, TrailingBodyBytesDoNotChangeTheHead) {
  const Row& row = GetParam();
  if (row.want != kOk) return;
  const std::string in = row.in + "HTTP/1.1 200 OK\r\n\r\n";
  ResponseHead h;
  ParseError err;
  ASSERT_EQ(parse_response(in, h, row.head, row.lim, err), kOk);
  EXPECT_EQ(h.head_size, row.in.size());
  EXPECT_EQ(h.body, row.body);
}

INSTANTIATE_TEST_SUITE_P(Table, ResponseRows, testing::ValuesIn(rows()),
                         [](const testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(Response, ReparseResetsFields) {
  ResponseHead h;
  ParseError err;
  ASSERT_EQ(parse_response("HTTP/1.1 101 X\r\nConnection: upgrade, close\r\nUpgrade: ws\r\n"
                           "Transfer-Encoding: gzip\r\n\r\n",
                           h, false, Limits{}, err),
            kOk);
  ASSERT_EQ(parse_response("HTTP/1.1 200 OK\r\n\r\n", h, false, Limits{}, err), kOk);
  EXPECT_EQ(h.body, BodyKind::until_close);
  EXPECT_FALSE(h.conn_upgrade || h.conn_close || h.te_other_codings);
  EXPECT_EQ(h.upgrade, "");
  EXPECT_TRUE(h.headers.empty());
}

TEST(Response, MutatedHeadsNeverCrash) {
  const std::string base =
      "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: gzip, chunked\r\n"
      "Connection: keep-alive\r\nSet-Cookie: a=b; Path=/; HttpOnly\r\n\r\n";
  const char interesting[] = {'\r', '\n', ' ', '\t', ':', '\0', ',', '0', '9', '\x7f', '\xff'};
  std::mt19937 rng(777);
  ResponseHead h;
  ParseError err;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = base;
    for (int k = 0, edits = 1 + int(rng() % 4); k < edits; ++k) {
      const size_t pos = rng() % s.size();
      const char c = (rng() % 2) ? interesting[rng() % sizeof interesting] : char(rng() % 256);
      switch (rng() % 3) {
        case 0: s[pos] = c; break;
        case 1: s.insert(s.begin() + long(pos), c); break;
        default: s.erase(pos, 1 + rng() % 3); break;
      }
      if (s.empty()) s = "x";
    }
    const std::string buf = s.substr(0, rng() % (s.size() + 1));
    const ParseStatus st = parse_response(buf, h, rng() % 2, Limits{}, err);
    if (st == kOk) {
      ASSERT_LE(h.head_size, buf.size());
      ASSERT_TRUE(h.status >= 100 && h.status <= 599);
      for (const auto& f : h.headers) ASSERT_TRUE(inside(f.name, buf) && inside(f.value, buf));
    } else if (st == kErr) {
      ASSERT_EQ(err.status, 502);
    }
  }
}

}  // namespace http1_response_test
