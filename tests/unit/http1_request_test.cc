// parse_request: one table row per case. This parser is the proxy's security
// boundary, so every request-smuggling shape we know of has a row here.
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
using gh::http1::parse_request;
using gh::http1::ParseError;
using gh::http1::ParseStatus;
using gh::http1::RequestHead;

namespace http1_request_test {

constexpr auto kOk = ParseStatus::complete;
constexpr auto kMore = ParseStatus::incomplete;
constexpr auto kErr = ParseStatus::error;

using Check = std::function<void(const RequestHead&)>;

struct Row {
  std::string name;
  std::string in;
  ParseStatus want;
  int code = 0;                   // ParseError::status when want == error
  const char* detail = nullptr;   // ParseError::detail when set
  Check check;                    // extra checks of derived fields when complete
  Limits lim{};
};

Row ok(std::string name, std::string in, Check check = nullptr, Limits lim = {}) {
  return Row{std::move(name), std::move(in), kOk, 0, nullptr, std::move(check), lim};
}
Row bad(std::string name, std::string in, int code, const char* detail = nullptr, Limits lim = {}) {
  return Row{std::move(name), std::move(in), kErr, code, detail, nullptr, lim};
}
Row more(std::string name, std::string in, Limits lim = {}) {
  return Row{std::move(name), std::move(in), kMore, 0, nullptr, nullptr, lim};
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: a\r\n";   // needs a final "\r\n"
const std::string kPost = "POST / HTTP/1.1\r\nHost: a\r\n";

Limits limits(size_t max_head, size_t max_headers = 256) {
  Limits l;
  l.max_head = max_head;
  l.max_headers = max_headers;
  return l;
}

std::vector<Row> rows() {
  std::vector<Row> r;
  // ---- valid requests and derived fields ----
  r.push_back(ok("simple_get", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.target, "/");
    EXPECT_EQ(h.path, "/");
    EXPECT_EQ(h.host, "example.com");
    EXPECT_EQ(h.authority, "");
    EXPECT_EQ(h.version_minor, 1);
    EXPECT_EQ(h.body, BodyKind::none);
    EXPECT_TRUE(h.keep_alive());
    ASSERT_EQ(h.headers.size(), 1u);
    EXPECT_EQ(h.headers[0].name, "Host");
    EXPECT_EQ(h.headers[0].value, "example.com");
  }));
  r.push_back(ok("http10_without_host", "GET /x?y=1 HTTP/1.0\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.version_minor, 0);
    EXPECT_EQ(h.host, "");
    EXPECT_EQ(h.path, "/x?y=1");
    EXPECT_FALSE(h.keep_alive());
  }));
  r.push_back(ok("http10_keep_alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_TRUE(h.keep_alive()); }));
  r.push_back(ok("http10_empty_host_allowed", "GET / HTTP/1.0\r\nHost:\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.host, ""); }));
  r.push_back(ok("http11_close", kGet + "Connection: close\r\n\r\n", [](const RequestHead& h) {
    EXPECT_TRUE(h.conn_close);
    EXPECT_FALSE(h.keep_alive());
  }));
  r.push_back(ok("connection_list_over_headers",
                 kGet + "Connection: foo, Keep-Alive\r\nConnection: ,UPGRADE ,\r\nUpgrade: websocket\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_TRUE(h.conn_keep_alive);
                   EXPECT_TRUE(h.conn_upgrade);
                   EXPECT_FALSE(h.conn_close);
                   EXPECT_EQ(h.upgrade, "websocket");
                 }));
  r.push_back(ok("lowercase_method_is_a_token", "get / HTTP/1.1\r\nHost: a\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.method, "get"); }));
  r.push_back(ok("extension_method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.method, "PURGE"); }));
  r.push_back(ok("target_with_browser_chars", "GET /a|b/{c}^`'~!$&()*+,;=:@%20?q=[x] HTTP/1.1\r\nHost: a\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.path, "/a|b/{c}^`'~!$&()*+,;=:@%20?q=[x]"); }));
  r.push_back(ok("long_target_sse_path", "GET /" + std::string(300, 'a') + "?" + std::string(100, 'b') +
                                             " HTTP/1.1\r\nHost: a\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.target.size(), 402u); }));
  r.push_back(ok("value_ows_trimmed", kGet + "X-A: \t v a\tl \t \r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.headers[1].name, "X-A");
    EXPECT_EQ(h.headers[1].value, "v a\tl");
  }));
  r.push_back(ok("value_empty", kGet + "X-Empty:\r\nX-Blank: \t \r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.headers[1].value, "");
    EXPECT_EQ(h.headers[2].value, "");
  }));
  r.push_back(ok("value_obs_text", kGet + "X-A: caf\xc3\xa9 \xff\x80\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.headers[1].value, "caf\xc3\xa9 \xff\x80"); }));
  r.push_back(ok("value_long_with_tabs", kGet + "Cookie: " + std::string(40, 'c') + "\t" + std::string(40, 'd') + "\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.headers[1].value.size(), 81u); }));
  r.push_back(ok("header_name_case_kept", "GET / HTTP/1.1\r\nhOsT: a\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.headers[0].name, "hOsT");
    EXPECT_EQ(h.host, "a");
  }));
  r.push_back(ok("header_name_all_tchars", kGet + "!#$%&'*+-.^_`|~09azAZ: x\r\n\r\n"));
  r.push_back(ok("underscore_in_other_names", kGet + "X_Custom: 1\r\n\r\n"));
  r.push_back(ok("leading_empty_line_skipped", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.head_size, 29u);
  }));
  // Host syntax.
  r.push_back(ok("host_with_port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.host, "example.com:8080"); }));
  r.push_back(ok("host_ipv4", "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n"));
  r.push_back(ok("host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.host, "[::1]:8080"); }));
  r.push_back(ok("host_ipv6_v4", "GET / HTTP/1.1\r\nHost: [::ffff:10.0.0.1]\r\n\r\n"));
  r.push_back(ok("host_pct_and_subdelims", "GET / HTTP/1.1\r\nHost: a%2Db!$&'()*+,;=~_.-\r\n\r\n"));
  r.push_back(bad("host_userinfo", "GET / HTTP/1.1\r\nHost: user@evil.com\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_space_inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_empty_http11", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_empty_port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_port_not_digits", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_port_too_big", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_only_port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_two_ports", "GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_ipv6_unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_ipv6_junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_ipv6_bad_char", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_bad_pct", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_obs_text", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("host_missing_http11", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing host"));
  r.push_back(bad("host_duplicate", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "duplicate host"));
  r.push_back(bad("host_duplicate_case", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "duplicate host"));
  r.push_back(bad("host_duplicate_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate host"));

  // Target forms.
  r.push_back(ok("absolute_form", "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_EQ(h.authority, "example.com");
                   EXPECT_EQ(h.host, "example.com");
                   EXPECT_EQ(h.path, "/a?b");
                   EXPECT_EQ(h.target, "http://example.com/a?b");
                 }));
  r.push_back(ok("absolute_form_conflicting_host_uses_authority",
                 "GET http://good.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n", [](const RequestHead& h) {
                   EXPECT_EQ(h.host, "good.example");
                   EXPECT_EQ(h.authority, "good.example");
                 }));
  r.push_back(ok("absolute_form_https_upper_scheme_no_path", "GET HTTPS://Example.com:8443 HTTP/1.1\r\nHost: x\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_EQ(h.authority, "Example.com:8443");
                   EXPECT_EQ(h.path, "/");
                 }));
  r.push_back(ok("absolute_form_http10_without_host", "GET http://a.b/c HTTP/1.0\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.host, "a.b"); }));
  r.push_back(bad("absolute_form_still_needs_host_http11", "GET http://a/ HTTP/1.1\r\n\r\n", 400, "missing host"));
  r.push_back(bad("absolute_form_bad_host_header", "GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid host"));
  r.push_back(bad("absolute_form_userinfo", "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("absolute_form_empty_authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("absolute_form_query_without_path", "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("absolute_form_other_scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("absolute_form_no_slashes", "GET http:a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(ok("asterisk_form_options", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.path, "*"); }));
  r.push_back(bad("asterisk_form_with_get", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("asterisk_plus_junk", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(ok("authority_form_connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_EQ(h.authority, "example.com:443");
                   EXPECT_EQ(h.host, "example.com:443");
                   EXPECT_EQ(h.path, "");
                 }));
  r.push_back(ok("authority_form_connect_ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.authority, "[2001:db8::1]:443"); }));
  r.push_back(bad("authority_form_connect_no_port", "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("authority_form_connect_userinfo", "CONNECT u@a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("connect_origin_form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("authority_form_with_get", "GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("target_relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400));

  // Request-line shape.
  r.push_back(bad("version_http2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505));
  r.push_back(bad("version_http09", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505));
  r.push_back(bad("version_http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505));
  r.push_back(bad("version_http30", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505));
  r.push_back(bad("version_trailing_junk", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("version_lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("version_no_minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("version_two_digit_major", "GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("version_missing_http09_style", "GET /\r\n\r\n", 400));
  r.push_back(bad("version_trailing_space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("two_spaces_before_target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("two_spaces_before_version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("tab_as_separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("leading_space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("method_not_token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("target_fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("target_obs_text", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("target_del", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("target_nul", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"s, 400));
  r.push_back(bad("target_vtab", "GET /a\x0b HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("two_leading_empty_lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("empty_line_only", "\r\n\r\n", 400));
  r.push_back(bad("tls_client_hello_on_plain_port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, 400));

  // Line endings and field syntax.
  r.push_back(bad("bare_lf_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare lf"));
  r.push_back(bad("bare_lf_header_line", kGet + "X: y\n\r\n", 400, "bare lf"));
  r.push_back(bad("bare_lf_end_of_head", kGet + "\n", 400, "bare lf"));
  r.push_back(bad("bare_lf_all_lines", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare lf"));
  r.push_back(bad("bare_lf_in_value", kGet + "X: a\nb\r\n\r\n", 400, "bare lf"));
  r.push_back(bad("bare_cr_in_value", kGet + "X: a\rb\r\n\r\n", 400, "bare cr"));
  r.push_back(bad("bare_cr_line_end", kGet + "X: a\rY: b\r\n\r\n", 400, "bare cr"));
  r.push_back(bad("bare_cr_before_end", kGet + "\rX: y\r\n\r\n", 400, "bare cr"));
  r.push_back(bad("bare_cr_request_line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400));
  r.push_back(bad("bare_cr_leading", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare cr"));
  r.push_back(bad("obs_fold", kGet + "X: a\r\n b\r\n\r\n", 400, "obs-fold"));
  r.push_back(bad("obs_fold_tab", kGet + "X: a\r\n\tb\r\n\r\n", 400, "obs-fold"));
  r.push_back(bad("space_before_first_header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obs-fold"));
  r.push_back(bad("nul_in_value", kGet + "X: a\0b\r\n\r\n"s, 400, "invalid character in header value"));
  r.push_back(bad("nul_in_name", kGet + "X\0Y: a\r\n\r\n"s, 400, "invalid header name"));
  r.push_back(bad("ctl_in_value", kGet + "X: a\x01" "b\r\n\r\n", 400, "invalid character in header value"));
  r.push_back(bad("del_in_value", kGet + "X: a\x7f\r\n\r\n", 400, "invalid character in header value"));
  r.push_back(bad("esc_in_long_value", kGet + "X: " + std::string(40, 'a') + "\x1b" + std::string(40, 'a') + "\r\n\r\n",
                  400, "invalid character in header value"));
  r.push_back(bad("space_in_name", kGet + "X A: b\r\n\r\n", 400, "invalid header name"));
  r.push_back(bad("space_before_colon", kGet + "X-A : b\r\n\r\n", 400, "whitespace before colon"));
  r.push_back(bad("tab_before_colon", kGet + "X-A\t: b\r\n\r\n", 400, "whitespace before colon"));
  r.push_back(bad("no_colon", kGet + "X-A b\r\n\r\n", 400, "invalid header name"));
  r.push_back(bad("no_colon_no_space", kGet + "XA\r\n\r\n", 400, "invalid header name"));
  r.push_back(bad("empty_name", kGet + ": b\r\n\r\n", 400, "empty header name"));
  r.push_back(bad("name_separator_char", kGet + "X(A): b\r\n\r\n", 400, "invalid header name"));
  r.push_back(bad("name_obs_text", kGet + "X\xc3\xa9: b\r\n\r\n", 400, "invalid header name"));

  // Transfer-Encoding: only exactly "chunked", once, on HTTP/1.1, without CL.
  r.push_back(ok("te_chunked", kPost + "Transfer-Encoding: chunked\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.body, BodyKind::chunked); }));
  r.push_back(ok("te_chunked_mixed_case", kPost + "transfer-encoding: Chunked\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.body, BodyKind::chunked); }));
  r.push_back(ok("te_chunked_upper", kPost + "TRANSFER-ENCODING: CHUNKED\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.body, BodyKind::chunked); }));
  r.push_back(ok("te_chunked_ows_trimmed", kPost + "Transfer-Encoding: \t chunked \t\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.body, BodyKind::chunked); }));
  r.push_back(ok("te_chunked_no_space", kPost + "Transfer-Encoding:chunked\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.body, BodyKind::chunked); }));
  r.push_back(bad("te_vtab_before", kPost + "Transfer-Encoding: \x0b" "chunked\r\n\r\n", 400));
  r.push_back(bad("te_vtab_after", kPost + "Transfer-Encoding: chunked\x0b\r\n\r\n", 400));
  r.push_back(bad("te_formfeed", kPost + "Transfer-Encoding: \x0c" "chunked\r\n\r\n", 400));
  r.push_back(bad("te_nul_after", kPost + "Transfer-Encoding: chunked\0\r\n\r\n"s, 400));
  r.push_back(bad("te_obs_text_after", kPost + "Transfer-Encoding: chunked\xff\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_chunk", kPost + "Transfer-Encoding: chunk\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_xchunked", kPost + "Transfer-Encoding: xchunked\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_chunkedx", kPost + "Transfer-Encoding: chunkedx\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_quoted", kPost + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_chunked_identity", kPost + "Transfer-Encoding: chunked, identity\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_gzip_chunked", kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_chunked_chunked", kPost + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_chunked_trailing_comma", kPost + "Transfer-Encoding: chunked,\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_identity", kPost + "Transfer-Encoding: identity\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_chunked_param", kPost + "Transfer-Encoding: chunked;x\r\n\r\n", 400,
                  "unsupported transfer-encoding"));
  r.push_back(bad("te_empty", kPost + "Transfer-Encoding:\r\n\r\n", 400, "unsupported transfer-encoding"));
  r.push_back(bad("te_duplicate_same", kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                  400, "duplicate transfer-encoding"));
  r.push_back(bad("te_duplicate_identity_first", kPost + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n",
                  400));
  r.push_back(bad("te_space_before_colon", kPost + "Transfer-Encoding : chunked\r\n\r\n", 400, "whitespace before colon"));
  r.push_back(bad("te_underscore", kPost + "Transfer_Encoding: chunked\r\n\r\n", 400));
  r.push_back(bad("te_obs_fold", kPost + "Transfer-Encoding: chunked\r\n , identity\r\n\r\n", 400, "obs-fold"));
  r.push_back(bad("te_on_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "transfer-encoding on http/1.0"));
  r.push_back(bad("te_then_cl", kPost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
                  "content-length with transfer-encoding"));
  r.push_back(bad("cl_then_te", kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "content-length with transfer-encoding"));
  r.push_back(bad("cl_zero_then_te", kPost + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                  "content-length with transfer-encoding"));

  // Content-Length: digits only, once, <= 2^62.
  r.push_back(ok("cl", kPost + "Content-Length: 5\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.body, BodyKind::content_length);
    EXPECT_EQ(h.content_length, 5u);
  }));
  r.push_back(ok("cl_zero", kPost + "Content-Length: 0\r\n\r\n", [](const RequestHead& h) {
    EXPECT_EQ(h.body, BodyKind::content_length);
    EXPECT_EQ(h.content_length, 0u);
  }));
  // Leading zeros are plain decimal (RFC 9110 grammar is 1*DIGIT); read as 5, not octal.
  r.push_back(ok("cl_leading_zeros", kPost + "Content-Length: 005\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.content_length, 5u); }));
  r.push_back(ok("cl_ows_trimmed", kPost + "Content-Length: \t 7 \t\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.content_length, 7u); }));
  r.push_back(ok("cl_max", kPost + "Content-Length: 4611686018427387904\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.content_length, uint64_t{1} << 62); }));
  r.push_back(ok("cl_many_leading_zeros", kPost + "Content-Length: 0000000000000000000000000012\r\n\r\n",
                 [](const RequestHead& h) { EXPECT_EQ(h.content_length, 12u); }));
  r.push_back(bad("cl_over_max", kPost + "Content-Length: 4611686018427387905\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_uint64_wrap", kPost + "Content-Length: 18446744073709551621\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_huge", kPost + "Content-Length: 99999999999999999999999999\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_plus", kPost + "Content-Length: +5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_minus", kPost + "Content-Length: -5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_hex", kPost + "Content-Length: 0x5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_empty", kPost + "Content-Length:\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_blank", kPost + "Content-Length:  \r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_space_inside", kPost + "Content-Length: 5 5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_comma_list", kPost + "Content-Length: 5,5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_comma_list_space", kPost + "Content-Length: 5, 5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_decimal_point", kPost + "Content-Length: 5.0\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_exponent", kPost + "Content-Length: 5e2\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_unicode_digit", kPost + "Content-Length: \xd9\xa5\r\n\r\n", 400, "invalid content-length"));
  r.push_back(bad("cl_vtab", kPost + "Content-Length: 5\x0b\r\n\r\n", 400));
  r.push_back(bad("cl_duplicate_equal", kPost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
                  "duplicate content-length"));
  r.push_back(bad("cl_duplicate_different", kPost + "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400,
                  "duplicate content-length"));
  r.push_back(bad("cl_space_before_colon", kPost + "Content-Length : 5\r\n\r\n", 400, "whitespace before colon"));
  r.push_back(bad("cl_underscore", kPost + "Content_Length: 5\r\n\r\n", 400));

  // Upgrade / Expect.
  r.push_back(bad("upgrade_duplicate", kGet + "Upgrade: websocket\r\nUpgrade: h2c\r\n\r\n", 400, "duplicate upgrade"));
  r.push_back(ok("expect_100_continue", kPost + "Content-Length: 1\r\nExpect: 100-Continue\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_TRUE(h.expect_continue);
                   EXPECT_FALSE(h.expect_other);
                 }));
  r.push_back(ok("expect_100_continue_ignored_on_http10", "POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n",
                 [](const RequestHead& h) {
                   EXPECT_FALSE(h.expect_continue);
                   EXPECT_FALSE(h.expect_other);
                 }));
  r.push_back(ok("expect_other", kPost + "Content-Length: 1\r\nExpect: 200-ok\r\n\r\n", [](const RequestHead& h) {
    EXPECT_FALSE(h.expect_continue);
    EXPECT_TRUE(h.expect_other);
  }));

  // Limits.
  r.push_back(bad("long_target_no_crlf_414", "GET /" + std::string(200, 'a'), 414, nullptr, limits(100)));
  r.push_back(bad("long_request_line_complete_414", "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                  414, nullptr, limits(100)));
  r.push_back(bad("long_head_431", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'a') + "\r\n\r\n", 431,
                  nullptr, limits(100)));
  r.push_back(bad("long_head_incomplete_431", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'a'), 431, nullptr,
                  limits(100)));
  r.push_back(ok("head_exactly_max", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", nullptr, limits(27)));
  r.push_back(bad("head_one_over_max", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 431, nullptr, limits(26)));
  r.push_back(ok("headers_at_max", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", nullptr, limits(1000, 3)));
  r.push_back(bad("headers_over_max", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431,
                  "too many header fields", limits(1000, 3)));
  {
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 300; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    r.push_back(bad("headers_default_max_256", many + "\r\n", 431, "too many header fields"));
  }

  // Incomplete heads, and errors found before the head is complete.
  r.push_back(more("empty", ""));
  r.push_back(more("just_cr", "\r"));
  r.push_back(more("no_final_crlf", kGet));
  r.push_back(more("half_final_crlf", kGet + "\r"));
  r.push_back(bad("early_bad_method", "GE(T / HTTP/1.1\r\n", 400));
  r.push_back(bad("early_bad_method_partial", "GE(", 400));
  r.push_back(bad("early_bare_lf", "GET / HTTP/1.1\r\nHost: a\nX", 400, "bare lf"));
  r.push_back(bad("early_version_505", "GET / HTTP/2.0\r\nHost: a\r\n", 505));
  r.push_back(bad("early_version_junk_partial", "GET / HTTX", 400));
  r.push_back(bad("early_version_too_long", "GET / HTTP/1.11", 400));
  r.push_back(bad("early_target_ctl", "GET /a\x01", 400));
  r.push_back(bad("early_asterisk_get", "GET * HTTP/1.1\r\n", 400));
  r.push_back(bad("early_bare_cr_request_line", "GET / HTTP/1.1\rX", 400));
  return r;
}

// Keeps gtest from dumping the raw bytes of a Row.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

// True if v lies inside buf (views must point into the caller's bytes).
bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

class RequestRows : public testing::TestWithParam<Row> {};

TEST_P(RequestRows, Parses) {
  const Row& row = GetParam();
  RequestHead h;
  ParseError err;
  const ParseStatus st = parse_request(row.in, h, row.lim, err);
  ASSERT_EQ(st, row.want) << "detail: " << err.detail;
  if (st == kErr) {
    EXPECT_EQ(err.status, row.code) << err.detail;
    if (row.detail) {
      EXPECT_STREQ(err.detail, row.detail);
    }
    EXPECT_GT(std::strlen(err.detail), 0u);
  }
  if (st != kOk) return;
  EXPECT_EQ(h.head_size, row.in.size());
  EXPECT_TRUE(inside(h.method, row.in) && inside(h.target, row.in) && inside(h.host, row.in) &&
              inside(h.authority, row.in) && inside(h.upgrade, row.in));
  EXPECT_TRUE(inside(h.path, row.in) || h.path == "/");
  for (const auto& f : h.headers) EXPECT_TRUE(inside(f.name, row.in) && inside(f.value, row.in));
  if (row.check) row.check(h);
}

// A complete head must never look like an error while it is still arriving.
TEST_P(RequestRows, EveryPrefixOfAValidHeadIsIncomplete) {
  const Row& row = GetParam();
  if (row.want != kOk) return;
  RequestHead h;
  ParseError err;
  for (size_t i = 0; i < row.in.size(); ++i) {
    const std::string prefix = row.in.substr(0, i);  // own copy: ASan catches reads past it
    ASSERT_EQ(parse_request(prefix, h, row.lim, err), kMore) << "prefix length " << i << ": " << err.detail;
  }
}

// An invalid head never becomes valid by being cut short.
TEST_P(RequestRows, NoPrefixOfAnInvalidHeadIsComplete) {
  const Row& row = GetParam();
  if (row.want != kErr) return;
  RequestHead h;
  ParseError err;
  for (size_t i = 0; i < row.in.size(); ++i) {
    const std::string prefix = row.in.substr(0, i);
    ASSERT_NE(parse_request(prefix, h, row.lim, err), kOk) << "prefix length " << i;
  }
}

// Bytes after the head (a body, the next request) do not change the head.
TEST_P(RequestRows, TrailingBytesDoNotChangeTheHead) {
  const Row& row = GetParam();
  if (row.want != kOk) return;
  const std::string in = row.in + "XYZ\r\n\r\n";
  RequestHead h;
  ParseError err;
  Limits lim = row.lim;
  lim.max_head += 7;  // keep rows that sit exactly at the limit meaningful
  ASSERT_EQ(parse_request(in, h, lim, err), kOk) << err.detail;
  EXPECT_EQ(h.head_size, row.in.size());
}

INSTANTIATE_TEST_SUITE_P(Table, RequestRows, testing::ValuesIn(rows()),
                         [](const testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(Request, PipelinedRequestsParseOneAfterAnother) {
  const std::string a = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  const std::string b = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string c = "\r\nGET /c HTTP/1.1\r\nHost: c\r\n\r\n";  // leading CRLF after a body is skipped
  const std::string all = a + b + c;
  RequestHead h;
  ParseError err;
  std::string_view rest = all;
  ASSERT_EQ(parse_request(rest, h, Limits{}, err), kOk);
  EXPECT_EQ(h.path, "/a");
  ASSERT_EQ(h.body, BodyKind::content_length);
  rest.remove_prefix(h.head_size + h.content_length);
  ASSERT_EQ(parse_request(rest, h, Limits{}, err), kOk);
  EXPECT_EQ(h.path, "/b");
  EXPECT_EQ(h.host, "b");
  rest.remove_prefix(h.head_size);
  ASSERT_EQ(parse_request(rest, h, Limits{}, err), kOk);
  EXPECT_EQ(h.path, "/c");
  EXPECT_EQ(h.head_size, rest.size());
}

TEST(Request, ReparseResetsEveryDerivedField) {
  RequestHead h;
  ParseError err;
  ASSERT_EQ(parse_request("POST http://x/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close, upgrade\r\nUpgrade: ws\r\nExpect: 100-continue\r\n\r\n",
                          h, Limits{}, err),
            kOk);
  ASSERT_EQ(parse_request("GET / HTTP/1.1\r\nHost: b\r\n\r\n", h, Limits{}, err), kOk);
  EXPECT_EQ(h.body, BodyKind::none);
  EXPECT_EQ(h.authority, "");
  EXPECT_EQ(h.host, "b");
  EXPECT_FALSE(h.conn_close || h.conn_upgrade || h.expect_continue);
  EXPECT_EQ(h.upgrade, "");
  EXPECT_EQ(h.headers.size(), 1u);
}

TEST(Request, HeadersCapacityIsReused) {
  RequestHead h;
  ParseError err;
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  ASSERT_EQ(parse_request(in, h, Limits{}, err), kOk);
  const auto* data = h.headers.data();
  const size_t cap = h.headers.capacity();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(parse_request(in, h, Limits{}, err), kOk);
  EXPECT_EQ(h.headers.data(), data);
  EXPECT_EQ(h.headers.capacity(), cap);
}

TEST(Request, KeepAliveRules) {
  RequestHead h;
  h.version_minor = 1;
  EXPECT_TRUE(h.keep_alive());
  h.conn_close = true;
  EXPECT_FALSE(h.keep_alive());
  h = RequestHead{};
  h.version_minor = 0;
  EXPECT_FALSE(h.keep_alive());
  h.conn_keep_alive = true;
  EXPECT_TRUE(h.keep_alive());
  h.conn_close = true;
  EXPECT_FALSE(h.keep_alive());
}

// Byte flips, insertions and cuts of a realistic head: the parser must never
// crash or read outside the buffer (run under ASan/UBSan), and a complete
// result must be self-consistent.
TEST(Request, MutatedHeadsNeverCrash) {
  const std::string base =
      "POST http://example.com:8080/upload?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n"
      "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n";
  const char interesting[] = {'\r', '\n', ' ', '\t', ':', '\0', '\x0b', ',', '/', '@', '[', ']', '\x7f', '\xff', '0', 'a'};
  std::mt19937 rng(12345);
  RequestHead h;
  ParseError err;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = base;
    const int edits = 1 + int(rng() % 4);
    for (int k = 0; k < edits; ++k) {
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
    const ParseStatus st = parse_request(buf, h, Limits{}, err);
    if (st == kOk) {
      ASSERT_LE(h.head_size, buf.size());
      ASSERT_EQ(buf.compare(h.head_size - 4, 4, "\r\n\r\n"), 0);
      ASSERT_TRUE(h.version_minor == 0 || h.version_minor == 1);
      ASSERT_FALSE(h.body == BodyKind::chunked && h.version_minor == 0);
      for (const auto& f : h.headers) ASSERT_TRUE(inside(f.name, buf) && inside(f.value, buf));
    } else if (st == kErr) {
      ASSERT_TRUE(err.status == 400 || err.status == 414 || err.status == 431 || err.status == 505);
    }
  }
}

TEST(Http1Helpers, Iequals) {
  using gh::http1::iequals;
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_FALSE(iequals("chunked", "chunke\xc4"));
  EXPECT_FALSE(iequals("[", "{"));  // 0x5b vs 0x7b differ only by the case bit but are not letters
  EXPECT_FALSE(iequals("@", "`"));
}

TEST(Http1Helpers, ListContains) {
  using gh::http1::list_contains;
  EXPECT_TRUE(list_contains("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(list_contains(" ,\tclose\t, ", "close"));
  EXPECT_TRUE(list_contains("close", "CLOSE"));
  EXPECT_FALSE(list_contains("closed", "close"));
  EXPECT_FALSE(list_contains("", "close"));
  EXPECT_FALSE(list_contains("x-close", "close"));
  EXPECT_FALSE(list_contains("clo se", "close"));
}

}  // namespace http1_request_test
