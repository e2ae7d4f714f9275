// libFuzzer target: http1::parse_response on arbitrary bytes.
//
// Checks, besides sanitizer reports:
//  - a complete head ends in CRLF CRLF at head_size <= input size and
//    <= max_head; reason, upgrade and every header view lie inside it;
//  - status is 100..599, version 1.0 or 1.1, every error is a 502;
//  - framing follows RFC 9112 6.3, recomputed from the header list: HEAD,
//    1xx, 204 and 304 have no body, else TE ending in chunked -> chunked, other
//    TE -> until close, CL -> its parsed value; never CL with TE, duplicate CL
//    or chunked twice; te_other_codings exactly when a coding is not chunked;
//  - the answer to a HEAD request differs only in the body kind;
//  - incremental parsing agrees with parsing all at once (see the request
//    target), and tight limits never accept what the defaults refuse.
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

void check_head(const ResponseHead& h, std::string_view in, const Limits& lim, bool head_request) {
  FUZZ_CHECK(h.head_size >= 4);
  FUZZ_CHECK(h.head_size <= in.size());
  FUZZ_CHECK(h.head_size <= lim.max_head);
  FUZZ_CHECK(in.substr(h.head_size - 4, 4) == "\r\n\r\n");
  FUZZ_CHECK(h.headers.size() <= lim.max_headers);
  FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
  FUZZ_CHECK(h.status >= 100 && h.status <= 599);
  const size_t n = h.head_size;
  FUZZ_CHECK(inside(h.reason, in, n));
  FUZZ_CHECK(inside(h.upgrade, in, n));
  for (unsigned char c : h.reason) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
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
  const bool no_body = head_request || h.status < 200 || h.status == 204 || h.status == 304;
  if (no_body) FUZZ_CHECK(h.body == BodyKind::none);
  else FUZZ_CHECK(h.body != BodyKind::none);
  if (h.body == BodyKind::chunked) FUZZ_CHECK(h.version_minor == 1);
  if (h.body == BodyKind::content_length) FUZZ_CHECK(h.content_length <= (uint64_t{1} << 62));
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

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Body framing recomputed from the header list (RFC 9112 6.3): what decides
// where this response ends and the next one on the connection begins.
void check_framing(const ResponseHead& h, bool head_request) {
  int cl = 0, te_fields = 0, chunked = 0, codings = 0;
  bool chunked_last = false, other = false;
  std::string_view cl_value;
  for (const Header& f : h.headers) {
    if (ieq(f.name, "content-length")) ++cl, cl_value = f.value;
    if (!ieq(f.name, "transfer-encoding")) continue;
    ++te_fields;
    std::string_view list = f.value;
    for (;;) {
      const size_t comma = list.find(',');
      const std::string_view el = trim(list.substr(0, comma));
      if (!el.empty()) {
        ++codings;
        chunked_last = ieq(el, "chunked");
        if (chunked_last) ++chunked;
        else other = true;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  FUZZ_CHECK(cl <= 1 && !(cl == 1 && te_fields > 0) && chunked <= 1);
  if (te_fields > 0) FUZZ_CHECK(codings > 0 && h.version_minor == 1);
  FUZZ_CHECK(h.te_other_codings == other);
  if (cl == 1) {
    uint64_t v = 0;
    FUZZ_CHECK(!cl_value.empty());
    for (char c : cl_value) {
      FUZZ_CHECK(c >= '0' && c <= '9');
      if (v <= (uint64_t{1} << 62)) v = v * 10 + uint64_t(c - '0');
    }
    FUZZ_CHECK(v == h.content_length);
  }
  const bool no_body = head_request || h.status < 200 || h.status == 204 || h.status == 304;
  BodyKind want = BodyKind::until_close;
  if (no_body) want = BodyKind::none;
  else if (te_fields > 0) want = chunked_last ? BodyKind::chunked : BodyKind::until_close;
  else if (cl == 1) want = BodyKind::content_length;
  FUZZ_CHECK(h.body == want);
}

void check_error(const ParseError& e) {
  FUZZ_CHECK(e.status == 502);
  FUZZ_CHECK(e.detail != nullptr && e.detail[0] != '\0');
}

// Same head apart from the body kind.
void check_same(const ResponseHead& a, const ResponseHead& b) {
  FUZZ_CHECK(a.head_size == b.head_size);
  FUZZ_CHECK(a.status == b.status && a.version_minor == b.version_minor);
  FUZZ_CHECK(a.reason.data() == b.reason.data() && a.reason.size() == b.reason.size());
  FUZZ_CHECK(a.headers.size() == b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    FUZZ_CHECK(a.headers[i].name.data() == b.headers[i].name.data());
    FUZZ_CHECK(a.headers[i].value == b.headers[i].value);
  }
  FUZZ_CHECK(a.content_length == b.content_length);
  FUZZ_CHECK(a.conn_close == b.conn_close && a.conn_keep_alive == b.conn_keep_alive &&
             a.conn_upgrade == b.conn_upgrade && a.upgrade == b.upgrade);
  FUZZ_CHECK(a.te_other_codings == b.te_other_codings);
}

ParseStatus parse(std::string_view in, ResponseHead& h, bool head_request, const Limits& lim,
                  ParseError& err) {
  err = ParseError{};
  const ParseStatus st = parse_response(in, h, head_request, lim, err);
  if (st == ParseStatus::complete) {
    check_head(h, in, lim, head_request);
    check_framing(h, head_request);
  }
  if (st == ParseStatus::error) check_error(err);
  return st;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  static ResponseHead full, head, part, tight;
  ParseError err;
  const Limits lim{};

  const ParseStatus st = parse(in, full, false, lim, err);

  // The request method only changes the framing decision.
  const ParseStatus hs = parse(in, head, true, lim, err);
  FUZZ_CHECK(hs == st);
  if (st == ParseStatus::complete) {
    check_same(head, full);
    FUZZ_CHECK(head.body == BodyKind::none);
  }

  size_t cuts[3] = {size / 2, size > 0 ? size - 1 : 0, 0};
  size_t ncuts = 2;
  if (st == ParseStatus::complete) cuts[ncuts++] = full.head_size - 1;
  for (size_t i = 0; i < ncuts; ++i) {
    const size_t cut = cuts[i];
    if (cut >= size) continue;
    const ParseStatus ps = parse(in.substr(0, cut), part, false, lim, err);
    if (ps == ParseStatus::error) FUZZ_CHECK(st == ParseStatus::error);
    if (ps == ParseStatus::complete) {
      FUZZ_CHECK(st == ParseStatus::complete);
      check_same(part, full);
      FUZZ_CHECK(part.body == full.body);
    }
    if (st == ParseStatus::complete && full.head_size <= cut) FUZZ_CHECK(ps == ParseStatus::complete);
  }

  Limits small;
  small.max_head = 24 + size % 64;
  small.max_headers = 1 + size % 4;
  const ParseStatus ts = parse(in, tight, false, small, err);
  if (ts == ParseStatus::complete) {
    FUZZ_CHECK(st == ParseStatus::complete);
    check_same(tight, full);
  }
  if (st == ParseStatus::complete && full.head_size <= small.max_head &&
      full.headers.size() <= small.max_headers)
    FUZZ_CHECK(ts == ParseStatus::complete);
  if (st == ParseStatus::error) FUZZ_CHECK(ts == ParseStatus::error);
  return 0;
}
