// libFuzzer target: http1::parse_request on arbitrary bytes.
//
// Besides "no crash, no sanitizer report", it checks what parser.h promises:
//  - a complete head ends in CRLF CRLF at head_size <= input size and
//    <= max_head; every view (method, target, path, authority, host,
//    upgrade, header names and values) lies inside the head (except the
//    static "/" path of absolute-form without a path);
//  - header names are tokens, values carry no CR/LF/NUL and no outer OWS;
//  - framing and routing agree with the header list: at most one
//    Transfer-Encoding (exactly "chunked"), Content-Length (digits, the
//    value parsed), Host and Upgrade, never CL with TE, never the
//    underscore spellings; Host required on 1.1; Connection and Expect flags;
//  - error statuses are only 400, 414, 431, 501, 505;
//  - the parser is incremental: a prefix of the input never reports an
//    error the whole input does not, a complete prefix gives the same head,
//    and a prefix holding the whole head is already complete;
//  - a tighter Limits never accepts what the default refuses, and accepts
//    the same head when it fits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "http1/parser.h"

#include "fuzz_check.h"

using namespace gh::http1;


using fuzz::inside;
using fuzz::is_tchar;

namespace {

void check_head(const RequestHead& h, std::string_view in, const Limits& lim) {
  FUZZ_CHECK(h.head_size >= 4);
  FUZZ_CHECK(h.head_size <= in.size());
  FUZZ_CHECK(h.head_size <= lim.max_head);
  FUZZ_CHECK(in.substr(h.head_size - 4, 4) == "\r\n\r\n");
  FUZZ_CHECK(h.headers.size() <= lim.max_headers);
  FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
  const size_t n = h.head_size;
  FUZZ_CHECK(!h.method.empty() && inside(h.method, in, n));
  FUZZ_CHECK(!h.target.empty() && inside(h.target, in, n));
  // Absolute-form without a path gets a static "/" (parser.h), all else points into the head.
  FUZZ_CHECK(inside(h.path, in, n) || h.path == "/");
  FUZZ_CHECK(inside(h.authority, in, n));
  FUZZ_CHECK(inside(h.host, in, n));
  FUZZ_CHECK(inside(h.upgrade, in, n));
  for (unsigned char c : h.method) FUZZ_CHECK(is_tchar(c));
  for (unsigned char c : h.target) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
  if (h.method == "CONNECT") {
    FUZZ_CHECK(h.path.empty() && !h.authority.empty());
  } else {
    FUZZ_CHECK(!h.path.empty());
    FUZZ_CHECK(h.path[0] == '/' || h.path == "*");
  }
  if (h.version_minor == 1) FUZZ_CHECK(!h.host.empty());
  for (const Header& f : h.headers) {
    FUZZ_CHECK(!f.name.empty() && inside(f.name, in, n));
    FUZZ_CHECK(inside(f.value, in, n));
    for (unsigned char c : f.name) FUZZ_CHECK(is_tchar(c));
    for (unsigned char c : f.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    if (!f.value.empty()) {
      FUZZ_CHECK(f.value.front() != ' ' && f.value.front() != '\t');
      FUZZ_CHECK(f.value.back() != ' ' && f.value.back() != '\t');
    }
  }
  switch (h.body) {
    case BodyKind::none:
      FUZZ_CHECK(h.content_length == 0);
      break;
    case BodyKind::content_length:
      FUZZ_CHECK(h.content_length <= (uint64_t{1} << 62));
      break;
    case BodyKind::chunked:
      FUZZ_CHECK(h.content_length == 0 && h.version_minor == 1);
      break;
    case BodyKind::until_close:
      FUZZ_CHECK(false);  // never for requests
  }
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x + 32);
    if (y >= 'A' && y <= 'Z') y = char(y + 32);
    if (x != y) return false;
  }
  return true;
}

// True when the comma-separated list names `token` (OWS around elements ignored).
bool lists(std::string_view list, std::string_view token) {
  for (;;) {
    const size_t comma = list.find(',');
    std::string_view el = list.substr(0, comma);
    while (!el.empty() && (el.front() == ' ' || el.front() == '\t')) el.remove_prefix(1);
    while (!el.empty() && (el.back() == ' ' || el.back() == '\t')) el.remove_suffix(1);
    if (ieq(el, token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// The framing and routing decisions, recomputed from the header list the
// parser returned: these are what request smuggling attacks.
void check_framing(const RequestHead& h) {
  int te = 0, cl = 0, host = 0, upgrade = 0;
  std::string_view te_value, cl_value, host_value;
  bool close = false, keep_alive = false, conn_upgrade = false, expect_100 = false, expect_other = false;
  for (const Header& f : h.headers) {
    FUZZ_CHECK(!ieq(f.name, "content_length") && !ieq(f.name, "transfer_encoding"));
    if (ieq(f.name, "transfer-encoding")) ++te, te_value = f.value;
    if (ieq(f.name, "content-length")) ++cl, cl_value = f.value;
    if (ieq(f.name, "host")) ++host, host_value = f.value;
    if (ieq(f.name, "upgrade")) ++upgrade;
    if (ieq(f.name, "connection")) {
      close = close || lists(f.value, "close");
      keep_alive = keep_alive || lists(f.value, "keep-alive");
      conn_upgrade = conn_upgrade || lists(f.value, "upgrade");
    }
    if (ieq(f.name, "expect")) {
      if (ieq(f.value, "100-continue")) expect_100 = true;
      else expect_other = true;
    }
  }
  FUZZ_CHECK(te <= 1 && cl <= 1 && host <= 1 && upgrade <= 1);
  FUZZ_CHECK(!(te == 1 && cl == 1));
  if (h.version_minor == 1) FUZZ_CHECK(host == 1);
  if (te == 1) {
    FUZZ_CHECK(h.body == BodyKind::chunked && ieq(te_value, "chunked") && h.version_minor == 1);
  } else if (cl == 1) {
    FUZZ_CHECK(h.body == BodyKind::content_length && !cl_value.empty());
    uint64_t v = 0;
    for (char c : cl_value) {
      FUZZ_CHECK(c >= '0' && c <= '9');
      if (v <= (uint64_t{1} << 62)) v = v * 10 + uint64_t(c - '0');
    }
    FUZZ_CHECK(v == h.content_length);
  } else {
    FUZZ_CHECK(h.body == BodyKind::none);
  }
  FUZZ_CHECK(h.host == (h.authority.empty() ? host_value : h.authority));
  FUZZ_CHECK(h.conn_close == close && h.conn_keep_alive == keep_alive && h.conn_upgrade == conn_upgrade);
  FUZZ_CHECK(h.expect_continue == (expect_100 && h.version_minor == 1));
  FUZZ_CHECK(h.expect_other == expect_other);
}

void check_error(const ParseError& e) {
  FUZZ_CHECK(e.status == 400 || e.status == 414 || e.status == 431 || e.status == 501 ||
             e.status == 505);
  FUZZ_CHECK(e.detail != nullptr && e.detail[0] != '\0');
}

// Same outcome field by field (views compared by position, not just text).
void check_same(const RequestHead& a, const RequestHead& b) {
  FUZZ_CHECK(a.head_size == b.head_size);
  FUZZ_CHECK(a.method.data() == b.method.data() && a.method.size() == b.method.size());
  FUZZ_CHECK(a.target.data() == b.target.data() && a.target.size() == b.target.size());
  FUZZ_CHECK(a.path == b.path && a.authority == b.authority && a.host == b.host);
  FUZZ_CHECK(a.version_minor == b.version_minor);
  FUZZ_CHECK(a.headers.size() == b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    FUZZ_CHECK(a.headers[i].name.data() == b.headers[i].name.data());
    FUZZ_CHECK(a.headers[i].value == b.headers[i].value);
  }
  FUZZ_CHECK(a.body == b.body && a.content_length == b.content_length);
  FUZZ_CHECK(a.conn_close == b.conn_close && a.conn_keep_alive == b.conn_keep_alive &&
             a.conn_upgrade == b.conn_upgrade && a.upgrade == b.upgrade);
  FUZZ_CHECK(a.expect_continue == b.expect_continue && a.expect_other == b.expect_other);
  FUZZ_CHECK(a.keep_alive() == b.keep_alive());
}

// Parses `in` under `lim`, checking the result's own invariants.
ParseStatus parse(std::string_view in, RequestHead& h, const Limits& lim, ParseError& err) {
  err = ParseError{};
  const ParseStatus st = parse_request(in, h, lim, err);
  if (st == ParseStatus::complete) {
    check_head(h, in, lim);
    check_framing(h);
  }
  if (st == ParseStatus::error) check_error(err);
  return st;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer hands us a heap block of exactly `size` bytes, so ASan reports
  // any read past the end of the input.
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // Heads are reused the way a connection reuses its head (clear() keeps capacity).
  static RequestHead full, part, tight;
  ParseError err;

  const Limits lim{};  // defaults: 32 KiB, 256 fields
  const ParseStatus st = parse(in, full, lim, err);

  // Incremental parsing: cut the input at a few places.
  size_t cuts[3] = {size / 2, size > 0 ? size - 1 : 0, 0};
  size_t ncuts = 2;
  if (st == ParseStatus::complete) cuts[ncuts++] = full.head_size - 1;  // one byte short
  for (size_t i = 0; i < ncuts; ++i) {
    const size_t cut = cuts[i];
    if (cut >= size) continue;
    const ParseStatus ps = parse(in.substr(0, cut), part, lim, err);
    if (ps == ParseStatus::error) FUZZ_CHECK(st == ParseStatus::error);
    if (ps == ParseStatus::complete) {
      FUZZ_CHECK(st == ParseStatus::complete);
      check_same(part, full);
    }
    if (st == ParseStatus::complete && full.head_size <= cut) FUZZ_CHECK(ps == ParseStatus::complete);
  }

  // Tight limits, chosen by the input's length so the fuzzer explores them.
  Limits small;
  small.max_head = 24 + size % 64;
  small.max_headers = 1 + size % 4;
  const ParseStatus ts = parse(in, tight, small, err);
  if (ts == ParseStatus::complete) {
    FUZZ_CHECK(st == ParseStatus::complete);
    check_same(tight, full);
  }
  if (st == ParseStatus::complete && full.head_size <= small.max_head &&
      full.headers.size() <= small.max_headers)
    FUZZ_CHECK(ts == ParseStatus::complete);
  if (st == ParseStatus::error && ts == ParseStatus::incomplete) FUZZ_CHECK(false);
  return 0;
}
