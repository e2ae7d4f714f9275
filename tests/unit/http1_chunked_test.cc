// ChunkedDecoder: one table row per case, each fed three ways (all at once,
// one byte at a time, and cut in two at every position) with the same result.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http1/chunked.h"

using namespace std::string_literals;
using gh::http1::ChunkedDecoder;

namespace http1_chunked_test {

enum class End { done, error, incomplete };

struct Row {
  std::string name;
  std::string in;
  End want;
  std::string data;               // body bytes expected (done/incomplete)
  std::string trailers;           // trailers() expected when done
  size_t consumed = SIZE_MAX;     // bytes used up to done; SIZE_MAX = all of `in`
  const char* detail = nullptr;   // Step::detail expected on error
  size_t max_trailer = 16 * 1024;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

Row done(std::string name, std::string in, std::string data, std::string trailers = "", size_t consumed = SIZE_MAX) {
  return Row{std::move(name), std::move(in), End::done, std::move(data), std::move(trailers), consumed};
}
Row bad(std::string name, std::string in, const char* detail = nullptr, size_t max_trailer = 16 * 1024) {
  return Row{std::move(name), std::move(in), End::error, "", "", SIZE_MAX, detail, max_trailer};
}
Row more(std::string name, std::string in, std::string data = "") {
  return Row{std::move(name), std::move(in), End::incomplete, std::move(data), ""};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back(done("single_chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(done("multi_chunk", "5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n", "hello world!"));
  r.push_back(done("hex_sizes_both_cases", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n", "0123456789abcdefghijk"));
  r.push_back(done("leading_zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"));
  r.push_back(done("sixteen_digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(done("empty_body", "0\r\n\r\n", ""));
  r.push_back(done("data_with_crlf_inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"));
  r.push_back(done("binary_data", "3\r\n\0\xff\n\r\n0\r\n\r\n"s, "\0\xff\n"s));
  r.push_back(done("ext_name", "5;foo\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(done("ext_name_value", "5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(done("ext_quoted", "5;foo=\"a b;c=\\\"d\\\\\"\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(done("ext_several", "5;a;b=c;d=\"\"\r\nhello\r\n0;last=yes\r\n\r\n", "hello"));
  r.push_back(done("trailers", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nGrpc-Status:0\r\n\r\n", "hello",
                   "X-Checksum: abc\r\nGrpc-Status: 0\r\n"));
  r.push_back(done("trailer_ows_trimmed", "0\r\nX: \t v \t\r\n\r\n", "", "X: v\r\n"));
  r.push_back(done("trailer_empty_value", "0\r\nX:\r\n\r\n", "", "X: \r\n"));
  r.push_back(done("next_message_not_consumed", "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "hello", "", 15));
  r.push_back(done("next_message_after_trailers", "0\r\nA: b\r\n\r\nPOST", "", "A: b\r\n", 11));

  // ---- incomplete ----
  r.push_back(more("nothing", ""));
  r.push_back(more("size_only", "5"));
  r.push_back(more("size_cr", "5\r"));
  r.push_back(more("partial_data", "5\r\nhel", "hel"));
  r.push_back(more("data_no_crlf", "5\r\nhello", "hello"));
  r.push_back(more("data_cr", "5\r\nhello\r", "hello"));
  r.push_back(more("last_chunk_no_end", "5\r\nhello\r\n0\r\n", "hello"));
  r.push_back(more("last_chunk_half_end", "0\r\n\r"));
  r.push_back(more("partial_trailer", "0\r\nX: y"));
  r.push_back(more("max_size_chunk", "ffffffffffffffff\r\nabc", "abc"));
  r.push_back(more("partial_ext", "5;a=\"b"));

  // ---- size line errors ----
  r.push_back(bad("bad_hex", "g\r\nhello\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("bad_hex_after_digit", "5g\r\nhello\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("empty_size", "\r\nhello\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("negative", "-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("plus", "+5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("hex_prefix", "0x10\r\n0123456789abcdef\r\n0\r\n\r\n", "invalid chunk size"));
  r.push_back(bad("underscore", "1_0\r\n", "invalid chunk size"));
  r.push_back(bad("overflow_18_digits", "ffffffffffffffffff\r\n", "chunk size overflow"));
  r.push_back(bad("seventeen_digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", "chunk size overflow"));
  r.push_back(bad("overflow_partial", "10000000000000000", "chunk size overflow"));
  r.push_back(bad("leading_space", " 5\r\nhello\r\n0\r\n\r\n", "whitespace in chunk size line"));
  r.push_back(bad("trailing_space", "5 \r\nhello\r\n0\r\n\r\n", "whitespace in chunk size line"));
  r.push_back(bad("trailing_tab", "5\t\r\nhello\r\n0\r\n\r\n", "whitespace in chunk size line"));
  r.push_back(bad("space_before_ext", "5 ;a\r\nhello\r\n0\r\n\r\n", "whitespace in chunk size line"));
  r.push_back(bad("space_after_semicolon", "5; a\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("space_around_equals", "5;a =b\r\nhello\r\n0\r\n\r\n", "whitespace in chunk size line"));
  r.push_back(bad("ext_empty", "5;\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_no_name", "5;=b\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_empty_value", "5;a=\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_bad_char", "5;a=b@c\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_ctl_in_quote", "5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_cr_in_quote", "5;a=\"b\r\n\"\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(bad("ext_junk_after_quote", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", "invalid chunk extension"));
  r.push_back(done("size_line_at_limit", "5;a=" + std::string(4092, 'b') + "\r\nhello\r\n0\r\n\r\n", "hello"));
  r.push_back(bad("size_line_one_over_limit", "5;a=" + std::string(4093, 'b') + "\r\nhello\r\n0\r\n\r\n",
                  "chunk size line too long"));
  r.push_back(done("trailer_line_at_limit", "0\r\nX: " + std::string(4093, 'v') + "\r\n\r\n", "",
                   "X: " + std::string(4093, 'v') + "\r\n"));
  r.push_back(bad("trailer_line_one_over_limit", "0\r\nX: " + std::string(4094, 'v') + "\r\n\r\n",
                  "trailer line too long"));
  r.push_back(bad("ext_too_long", "5;a=" + std::string(5000, 'b') + "\r\nhello\r\n0\r\n\r\n", "chunk size line too long"));
  r.push_back(bad("ext_too_long_unterminated", "5;a=" + std::string(5000, 'b'), "chunk size line too long"));
  r.push_back(bad("quoted_ext_too_long_unterminated", "5;a=\"" + std::string(5000, 'b'), "chunk size line too long"));
  r.push_back(bad("bare_lf_size", "5\nhello\r\n0\r\n\r\n", "bare lf"));
  r.push_back(bad("bare_lf_after_ext", "5;a=b\nhello\r\n0\r\n\r\n", "bare lf"));
  r.push_back(bad("bare_cr_size", "5\rhello\r\n0\r\n\r\n", "bare cr"));
  r.push_back(bad("nul_in_size", "5\0\r\nhello\r\n0\r\n\r\n"s, "invalid chunk size"));

  // ---- data framing errors ----
  r.push_back(bad("data_longer_than_size", "5\r\nhelloX\r\n0\r\n\r\n", "missing crlf after chunk data"));
  r.push_back(bad("data_shorter_than_size", "6\r\nhello\r\n0\r\n\r\n", "bare lf"));  // data is "hello\r"
  r.push_back(bad("data_bare_lf", "5\r\nhello\n0\r\n\r\n", "bare lf"));
  r.push_back(bad("data_bare_cr", "5\r\nhello\rX0\r\n\r\n", "bare cr"));
  r.push_back(bad("size_line_with_lf_only_after_data", "5\r\nhello\r\n\n0\r\n\r\n", "bare lf"));

  // ---- trailer errors ----
  r.push_back(bad("trailer_obs_fold", "0\r\nX: a\r\n b\r\n\r\n", "obs-fold"));
  r.push_back(bad("trailer_bare_lf", "0\r\nX: a\n\r\n", "bare lf"));
  r.push_back(bad("trailer_bare_lf_end", "0\r\nX: a\r\n\n", "bare lf"));
  r.push_back(bad("last_chunk_bare_lf_end", "0\r\n\n", "bare lf"));
  r.push_back(bad("last_chunk_bare_cr_end", "0\r\n\rX", "bare cr"));
  r.push_back(bad("trailer_line_starts_with_cr", "0\r\n\rX: y\r\n\r\n", "bare cr"));
  r.push_back(bad("trailer_bare_cr", "0\r\nX: a\rb\r\n\r\n", "bare cr"));
  r.push_back(bad("trailer_nul", "0\r\nX: a\0\r\n\r\n"s, "invalid character in header value"));
  r.push_back(bad("trailer_space_before_colon", "0\r\nX : a\r\n\r\n", "whitespace before colon"));
  r.push_back(bad("trailer_no_colon", "0\r\nXa\r\n\r\n", "invalid header name"));
  r.push_back(bad("trailer_content_length", "0\r\nContent-Length: 5\r\n\r\n", "forbidden trailer field"));
  r.push_back(bad("trailer_transfer_encoding", "0\r\ntransfer-encoding: chunked\r\n\r\n", "forbidden trailer field"));
  r.push_back(bad("trailer_host", "0\r\nHost: evil\r\n\r\n", "forbidden trailer field"));
  r.push_back(bad("trailer_line_too_long", "0\r\nX: " + std::string(5000, 'a') + "\r\n\r\n", "trailer line too long"));
  r.push_back(bad("trailer_section_too_large", "0\r\nA: 12345\r\nB: 12345\r\nC: 12345\r\n\r\n",
                  "trailer section too large", 20));
  return r;
}

struct Result {
  End end = End::incomplete;
  std::string data;
  std::string trailers;
  size_t consumed = 0;
  std::string detail;
};

// Feeds `in` in pieces cut at `cuts` (ascending offsets), keeping unconsumed
// bytes the way a connection buffer would.
Result feed(const std::string& in, const std::vector<size_t>& cuts, size_t max_trailer) {
  ChunkedDecoder d(max_trailer);
  Result res;
  std::string buf;
  size_t fed = 0;
  size_t next_cut = 0;
  for (;;) {
    for (;;) {
      const ChunkedDecoder::Step s = d.next(buf);
      if (s.error) {
        res.end = End::error;
        res.detail = s.detail;
        EXPECT_TRUE(s.data.empty());
        return res;
      }
      EXPECT_LE(s.consumed, buf.size());
      if (!s.data.empty()) {
        // Zero-copy: the data is a view into what we passed in.
        EXPECT_GE(s.data.data(), buf.data());
        EXPECT_LE(s.data.data() + s.data.size(), buf.data() + buf.size());
        res.data.append(s.data);
      }
      buf.erase(0, s.consumed);
      res.consumed += s.consumed;
      if (s.done) {
        res.end = End::done;
        res.trailers = d.trailers();
        // Further calls stay done and consume nothing.
        const auto again = d.next(buf);
        EXPECT_TRUE(again.done);
        EXPECT_EQ(again.consumed, 0u);
        return res;
      }
      if (s.consumed == 0) break;
    }
    if (fed == in.size()) return res;
    const size_t upto = next_cut < cuts.size() ? cuts[next_cut++] : in.size();
    buf.append(in, fed, upto - fed);
    fed = upto;
  }
}

class ChunkedRows : public testing::TestWithParam<Row> {};

void expect_row(const Row& row, const Result& got, const std::string& how) {
  SCOPED_TRACE(how);
  ASSERT_EQ(int(got.end), int(row.want)) << "detail: " << got.detail;
  if (row.want == End::error) {
    if (row.detail) {
      EXPECT_EQ(got.detail, row.detail);
    }
    return;
  }
  EXPECT_EQ(got.data, row.data);
  if (row.want == End::done) {
    EXPECT_EQ(got.trailers, row.trailers);
    EXPECT_EQ(got.consumed, row.consumed == SIZE_MAX ? row.in.size() : row.consumed);
  }
}

TEST_P(ChunkedRows, AllAtOnce) {
  const Row& row = GetParam();
  expect_row(row, feed(row.in, {}, row.max_trailer), "whole");
}

TEST_P(ChunkedRows, OneByteAtATime) {
  const Row& row = GetParam();
  std::vector<size_t> cuts;
  for (size_t i = 1; i < row.in.size(); ++i) cuts.push_back(i);
  expect_row(row, feed(row.in, cuts, row.max_trailer), "bytewise");
}

TEST_P(ChunkedRows, SplitInTwoAtEveryOffset) {
  const Row& row = GetParam();
  if (row.in.size() > 200) return;  // the long rows are covered byte by byte
  for (size_t i = 1; i < row.in.size(); ++i)
    expect_row(row, feed(row.in, {i}, row.max_trailer), "cut at " + std::to_string(i));
}

INSTANTIATE_TEST_SUITE_P(Table, ChunkedRows, testing::ValuesIn(rows()),
                         [](const testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(Chunked, BigChunkStreamsInPiecesWithoutCopying) {
  const std::string body(100000, 'z');
  const std::string in = "186a0\r\n" + body + "\r\n0\r\n\r\n";  // 0x186a0 == 100000
  ChunkedDecoder d;
  std::string got;
  size_t pos = 0, steps = 0;
  while (pos < in.size()) {
    const std::string_view window = std::string_view(in).substr(pos, 4096);
    const auto s = d.next(window);
    ASSERT_FALSE(s.error) << s.detail;
    if (!s.data.empty()) {
      ASSERT_GE(s.data.data(), window.data());
      ASSERT_LE(s.data.data() + s.data.size(), window.data() + window.size());
    }
    got.append(s.data);
    pos += s.consumed;
    ++steps;
    if (s.done) break;
    ASSERT_GT(s.consumed, 0u);
  }
  EXPECT_EQ(got, body);
  EXPECT_EQ(pos, in.size());
  EXPECT_GE(steps, 25u);
}

TEST(Chunked, ErrorIsSticky) {
  ChunkedDecoder d;
  EXPECT_TRUE(d.next("zz\r\n").error);
  const auto s = d.next("5\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(s.error);
  EXPECT_EQ(s.consumed, 0u);
}

TEST(Chunked, ResetStartsOver) {
  ChunkedDecoder d;
  auto s = d.next("0\r\nX: y\r\n\r\n");
  ASSERT_TRUE(s.done);
  EXPECT_EQ(d.trailers(), "X: y\r\n");
  d.reset();
  EXPECT_EQ(d.trailers(), "");
  s = d.next("3\r\nabc\r\n");
  EXPECT_FALSE(s.error);
  EXPECT_EQ(s.data, "abc");
  EXPECT_EQ(s.consumed, 8u);
  d.reset();
  EXPECT_TRUE(d.next("zz\r\n").error);
  d.reset();
  EXPECT_TRUE(d.next("0\r\n\r\n").done);
}

TEST(Chunked, OneStepReturnsAtMostOneChunk) {
  ChunkedDecoder d;
  const std::string in = "1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
  auto s = d.next(in);
  EXPECT_EQ(s.data, "a");
  EXPECT_EQ(s.consumed, 6u);  // size line, data and its CRLF
  s = d.next(std::string_view(in).substr(6));
  EXPECT_EQ(s.data, "b");
  s = d.next(std::string_view(in).substr(12));
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 5u);
}

}  // namespace http1_chunked_test
