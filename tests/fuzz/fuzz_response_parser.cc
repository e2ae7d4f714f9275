// libFuzzer target: http1::parse_response on arbitrary bytes.
//
// Checks, besides sanitizer reports:
//  - a complete head ends in CRLF CRLF at head_size <= input size and
//    <= max_head; reason, upgrade and every header view lie inside it;
//  - status is 100..599, version 1.0 or 1.1, every error is a 502;
//  - framing follows RFC 9112 6.3: HEAD, 1xx, 204 and 304 have no body;
//  - the answer to a HEAD request differs only in the body kind;
//  - incremental parsing agrees with parsing all at once (see the request
//    target), and tight limits never accept what the defaults refuse.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "http1/parser.h"

using namespace gh::http1;

#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace {

bool inside(std::string_view v, std::string_view buf, size_t limit) {
  if (v.empty()) return true;
  const char* b = buf.data();
  return v.data() >= b && v.data() + v.size() <= b + limit;
}

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

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
  if (st == ParseStatus::complete) check_head(h, in, lim, head_request);
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
