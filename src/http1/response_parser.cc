// parse_response: RFC 9112 response heads from upstream, strictly (see parser.h).
// Every refusal is a 502: the backend, not the client, spoke badly.
#include <algorithm>

#include "http1/fields.h"
#include "http1/parser.h"

namespace gh::http1 {

using namespace detail;

void ResponseHead::clear() {
  version_minor = 1;
  status = 0;
  reason = {};
  headers.clear();  // keeps capacity
  head_size = 0;
  body = BodyKind::until_close;
  content_length = 0;
  conn_close = false;
  conn_keep_alive = false;
  conn_upgrade = false;
  upgrade = {};
  te_other_codings = false;
}

namespace {

ParseStatus fail(ParseError& err, const char* detail) {
  err.status = 502;
  err.detail = detail;
  return ParseStatus::error;
}

// Parses the status-line in [p, e): "HTTP/1.0" or "HTTP/1.1", SP, three
// digits 100-599, then SP and a reason of VCHAR/SP/HTAB/obs-text. A missing
// SP after the code is tolerated when the reason is empty (unambiguous, and
// some servers send it). With `complete` the range is the line without CRLF;
// without, it is what has arrived and only certain errors are reported.
ParseStatus parse_status_line(const char* p, const char* e, bool complete, ResponseHead& out,
                              ParseError& err) {
  if (!complete && e > p && e[-1] == '\r') --e;  // may be the first half of CRLF
  const size_t r = static_cast<size_t>(e - p);
  static constexpr char kProto[] = "HTTP/1.";
  for (size_t i = 0; i < 12 && i < r; ++i) {
    const char c = p[i];
    bool ok;
    if (i < 7)
      ok = c == kProto[i];
    else if (i == 7)
      ok = c == '0' || c == '1';
    else if (i == 8)
      ok = c == ' ';
    else if (i == 9)
      ok = c >= '1' && c <= '5';
    else
      ok = has(c, kDigit);
    if (!ok) return fail(err, "invalid status line");
  }
  if (r < 12) return complete ? fail(err, "invalid status line") : ParseStatus::incomplete;
  if (r > 12) {
    if (p[12] != ' ') return fail(err, "invalid status line");
    if (scan_value(p + 13, e) != e) return fail(err, "invalid reason phrase");
  }
  if (!complete) return ParseStatus::incomplete;
  out.version_minor = p[7] - '0';
  out.status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  out.reason = r > 12 ? std::string_view(p + 13, r - 13) : std::string_view();
  return ParseStatus::complete;
}

}  // namespace

ParseStatus parse_response(std::string_view buf, ResponseHead& out, bool request_method_head,
                           const Limits& lim, ParseError& err) {
  out.clear();
  const char* const b = buf.data();
  const size_t n = buf.size();
  const size_t scan_n = std::min(n, lim.max_head);
  const HeadEnd he = find_head_end(b, 0, scan_n);
  if (he.bare_lf) return fail(err, "bare lf");

  const bool line_done = he.first_lf != kNotFound;
  const char* const line_end = line_done ? b + he.first_lf - 1 : b + scan_n;
  const ParseStatus st = parse_status_line(b, line_end, line_done, out, err);
  if (st == ParseStatus::error) return st;
  if (he.end == 0) {
    if (n >= lim.max_head) return fail(err, "response head too large");
    return ParseStatus::incomplete;
  }

  const char* p = line_end + 2;
  const char* const e = b + he.end;
  bool have_cl = false, have_te = false, have_upgrade = false;
  bool chunked_seen = false, chunked_last = false, te_bad = false;
  const char* detail = "";
  while (p < e && *p != '\r') {
    if (out.headers.size() >= lim.max_headers) return fail(err, "too many header fields");
    if (out.headers.capacity() == 0) out.headers.reserve(16);   // (one allocation, kept)
    Header& h = out.headers.emplace_back();
    p = parse_field_line(p, e, h, detail);
    if (p == nullptr) return fail(err, detail);
    switch (h.name.size()) {
      case 7:
        if (iequals(h.name, "upgrade")) {
          if (have_upgrade) return fail(err, "duplicate upgrade");
          have_upgrade = true;
          out.upgrade = h.value;
        }
        break;
      case 10:
        if (iequals(h.name, "connection"))
          apply_connection(h.value, out.conn_close, out.conn_keep_alive, out.conn_upgrade);
        break;
      case 14:
        if (iequals(h.name, "content-length")) {
          if (have_cl) return fail(err, "duplicate content-length");
          have_cl = true;
          if (!parse_content_length(h.value, out.content_length))
            return fail(err, "invalid content-length");
        }
        break;
      case 17:
        if (iequals(h.name, "transfer-encoding")) {
          // Several TE fields form one list (RFC 9110 5.3); codings apply in order.
          have_te = true;
          size_t codings = 0;
          for_each_list_element(h.value, [&](std::string_view c) {
            ++codings;
            if (!is_token(c) || (chunked_seen && iequals(c, "chunked"))) te_bad = true;
            chunked_last = iequals(c, "chunked");
            chunked_seen = chunked_seen || chunked_last;
            out.te_other_codings = out.te_other_codings || !chunked_last;
          });
          if (codings == 0) return fail(err, "empty transfer-encoding");
          if (te_bad) return fail(err, "invalid transfer-encoding");
        }
        break;
      default:
        break;
    }
  }
  if (p + 2 != e || p[1] != '\n') return fail(err, "bare cr");

  if (have_te) {
    if (have_cl) return fail(err, "content-length with transfer-encoding");
    if (out.version_minor == 0) return fail(err, "transfer-encoding on http/1.0");
  }
  // RFC 9112 6.3, in order.
  if (request_method_head || out.status < 200 || out.status == 204 || out.status == 304)
    out.body = BodyKind::none;
  else if (have_te)
    out.body = chunked_last ? BodyKind::chunked : BodyKind::until_close;
  else if (have_cl)
    out.body = BodyKind::content_length;
  else
    out.body = BodyKind::until_close;
  out.head_size = he.end;
  return ParseStatus::complete;
}

}  // namespace gh::http1
