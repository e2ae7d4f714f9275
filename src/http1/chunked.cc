// ChunkedDecoder: the chunked transfer coding (RFC 9112 7.1), strictly.
#include "http1/chunked.h"

#include <algorithm>
#include <cstring>

#include "http1/fields.h"

namespace gh::http1 {

using namespace detail;

namespace {

// Longest size or trailer line we accept, CRLF not included: real ones are a
// few bytes; the cap bounds the re-scan of an unfinished line.
constexpr size_t kMaxLine = 4096;

enum class Line { ok, need_more, error };

// Parses a chunk-size line at the start of s:
//   1*16HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF
// No whitespace anywhere (RFC 9112 allows BWS around ';' and '=', we refuse
// it: nothing legitimate sends it and lenient peers disagree on it).
// Errors are reported as soon as the bytes seen cannot start a valid line.
Line parse_size_line(std::string_view s, uint64_t& size, size_t& len, const char*& detail) {
  const size_t n = s.size();
  auto more = [&]() {
    if (n > kMaxLine + 1) {  // room for the longest line and its CR
      detail = "chunk size line too long";
      return Line::error;
    }
    return Line::need_more;
  };
  size_t i = 0;
  uint64_t v = 0;
  for (; i < n; ++i) {
    const int d = hex_value(s[i]);
    if (d < 0) break;
    if (i == 16) {
      detail = "chunk size overflow";
      return Line::error;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (i == n) return more();
  if (i == 0) {
    detail = s[0] == '\n' ? "bare lf" : is_ows(s[0]) ? "whitespace in chunk size line" : "invalid chunk size";
    return Line::error;
  }
  const size_t hex_end = i;
  while (s[i] == ';') {
    ++i;
    const size_t name = i;
    while (i < n && has(s[i], kToken)) ++i;
    if (i == n) return more();
    if (i == name) {
      detail = "invalid chunk extension";
      return Line::error;
    }
    if (s[i] != '=') continue;
    ++i;
    if (i == n) return more();
    if (s[i] == '"') {
      ++i;
      for (;;) {
        if (i == n) return more();
        if (s[i] == '"') break;
        if (s[i] == '\\') {
          ++i;
          if (i == n) return more();
          if (!has(s[i], kValue)) {  // quoted-pair: HTAB / SP / VCHAR / obs-text
            detail = "invalid chunk extension";
            return Line::error;
          }
        } else if (!has(s[i], kQdtext)) {
          detail = "invalid chunk extension";
          return Line::error;
        }
        ++i;
      }
      ++i;  // closing quote
    } else {
      const size_t val = i;
      while (i < n && has(s[i], kToken)) ++i;
      if (i == val) {
        detail = "invalid chunk extension";
        return Line::error;
      }
    }
    if (i == n) return more();
  }
  if (s[i] != '\r') {
    if (s[i] == '\n')
      detail = "bare lf";
    else if (is_ows(s[i]))
      detail = "whitespace in chunk size line";
    else
      detail = i == hex_end ? "invalid chunk size" : "invalid chunk extension";
    return Line::error;
  }
  if (i + 1 == n) return more();
  if (s[i + 1] != '\n') {
    detail = "bare cr";
    return Line::error;
  }
  if (i > kMaxLine) {
    detail = "chunk size line too long";
    return Line::error;
  }
  size = v;
  len = i + 2;
  return Line::ok;
}

// Fields that decide framing or routing must not hide in trailers (RFC 9110
// 6.5.1): a peer that merges trailers into the head would be misled.
bool forbidden_trailer(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "host") || iequals(name, "connection");
}

}  // namespace

void ChunkedDecoder::reset() {
  state_ = State::size_line;
  remaining_ = 0;
  trailers_.clear();
}

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) {
  Step s;
  size_t pos = 0;
  auto fail = [&](const char* why) {
    state_ = State::failed;
    s = Step{};
    s.error = true;
    s.detail = why;
    return s;
  };
  for (;;) {
    const std::string_view rest = in.substr(pos);
    switch (state_) {
      case State::size_line: {
        uint64_t size = 0;
        size_t len = 0;
        const char* why = "";
        const Line r = parse_size_line(rest, size, len, why);
        if (r == Line::error) return fail(why);
        if (r == Line::need_more) {
          s.consumed = pos;
          return s;
        }
        pos += len;
        remaining_ = size;
        state_ = size == 0 ? State::trailer : State::data;
        break;
      }
      case State::data: {
        if (rest.empty()) {
          s.consumed = pos;
          return s;
        }
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        s.data = rest.substr(0, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = State::data_crlf;
          // Take the CRLF now when it is already here and right; anything else
          // is left for the next call so a step never carries data and error.
          if (rest.size() >= take + 2 && rest[take] == '\r' && rest[take + 1] == '\n') {
            pos += 2;
            state_ = State::size_line;
          }
        }
        s.consumed = pos;
        return s;
      }
      case State::data_crlf: {
        if (rest.empty()) {
          s.consumed = pos;
          return s;
        }
        if (rest[0] != '\r') return fail(rest[0] == '\n' ? "bare lf" : "missing crlf after chunk data");
        if (rest.size() < 2) {
          s.consumed = pos;
          return s;
        }
        if (rest[1] != '\n') return fail("bare cr");
        pos += 2;
        state_ = State::size_line;
        break;
      }
      case State::trailer: {
        const size_t look = std::min(rest.size(), kMaxLine + 2);
        const void* q = std::memchr(rest.data(), '\n', look);
        if (q == nullptr) {
          if (look == kMaxLine + 2) return fail("trailer line too long");
          if (!rest.empty() && rest[0] == '\r' && rest.size() >= 2) return fail("bare cr");
          s.consumed = pos;
          return s;
        }
        const size_t lf = static_cast<size_t>(static_cast<const char*>(q) - rest.data());
        if (lf == 0 || rest[lf - 1] != '\r') return fail("bare lf");
        if (rest[0] == '\r' && lf != 1) return fail("bare cr");
        if (lf == 1) {  // empty line: end of the trailer section
          pos += 2;
          state_ = State::done;
          s.consumed = pos;
          s.done = true;
          return s;
        }
        if (trailers_.size() + lf + 1 > max_trailer_) return fail("trailer section too large");
        Header h;
        const char* why = "";
        const char* end = parse_field_line(rest.data(), rest.data() + lf + 1, h, why);
        if (end == nullptr) return fail(why);
        if (forbidden_trailer(h.name)) return fail("forbidden trailer field");
        trailers_.append(h.name).append(": ").append(h.value).append("\r\n");
        pos += lf + 1;
        break;
      }
      case State::done:
        s.done = true;
        s.consumed = 0;
        return s;
      case State::failed:
        return fail("chunked decoder already failed");
    }
  }
}

}  // namespace gh::http1
