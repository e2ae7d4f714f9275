// The request body phase over HTTP/1 (policy.h): the body's first bytes,
// as many as the route's policies want, are held before anything goes
// upstream. A body received whole (request buffering) is already here; a
// streamed one is read ahead into the connection buffer, where the body
// source then finds it, so the held bytes go upstream first and the rest
// follows as it comes.
#include "proxy/session.h"

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

awaitable<Session::BodyCheck> Session::check_request_body(BodyWait bw) {
  const uint64_t want = pipe_->request_body_wanted();
  std::string_view held;
  bool complete = true;
  if (req_.body == BodyKind::none) {
    // (nothing held: the policies see an empty body)
  } else if (bw == BodyWait::complete) {
    if (up_body_ == UpBody::rebuilt) {
      held = body_;
      if (up_body_chunked_) {
        // Chunk-coded again for its trailers: "size CRLF payload CRLF 0 ...".
        const size_t at = body_.find("\r\n");
        held = std::string_view(body_).substr(at + 2, static_cast<size_t>(body_in_));
      }
    } else {
      held = in_.view().substr(req_.head_size, static_cast<size_t>(req_.content_length));
    }
  } else {
    const bool ok = co_await hold_body_prefix(want, held, complete);
    if (!ok) co_return closing_ ? BodyCheck::answered_close : BodyCheck::answered_keep;
  }
  if (held.size() > want) {
    held = held.substr(0, static_cast<size_t>(want));
    complete = false;
  }
  policy::Verdict v = pipe_->run_request_body(ex_, held, complete);
  rec_.note_by = ex_.noted_by;
  rec_.note = ex_.note;
  if (v != policy::Verdict::answered) co_return BodyCheck::pass;
  rec_.policy = ex_.refused_by;
  closing_ = !skip_request_body();
  co_await send_answer(*ex_.answer);
  co_return closing_ ? BodyCheck::answered_close : BodyCheck::answered_keep;
}

// A body that streams (larger than limits.request_buffer, or with request
// buffering off): reads until `want` bytes of its payload are here or the
// body ended. The raw bytes stay in in_ after the head for the body source;
// a chunked body's payload is decoded into body_ (unused when streaming).
// 100-continue is answered here, since the body is needed before any
// backend is asked. False: the client got an error (400, 408) or went away.
awaitable<bool> Session::hold_body_prefix(uint64_t want, std::string_view& held, bool& complete) {
  const size_t head = req_.head_size;
  const bool chunked = req_.body == BodyKind::chunked;
  const uint64_t cl = chunked ? 0 : req_.content_length;
  const char* const head_at = in_.data();
  if (req_.expect_continue && !sent_continue_ && in_.size() == head) {
    sent_continue_ = true;   // (the backend's own 100 is then not passed on)
    const bool awaited = co_await write_down("HTTP/1.1 100 Continue\r\n\r\n");
    if (!awaited) {
      rec_.status = 499;
      closing_ = true;
      co_return false;
    }
  }
  http1::ChunkedDecoder dec;
  size_t raw = 0;   // chunked: bytes after the head decoded so far
  bool done = false;
  if (chunked) body_.clear();
  for (;;) {
    if (!chunked) {
      const uint64_t have = in_.size() - head;
      if (have >= cl || have >= want) break;
    } else {
      for (;;) {
        auto step = dec.next(in_.view().substr(head + raw));
        if (step.error) {
          closing_ = true;
          co_await send_error(400, "http_request_error", step.detail);
          co_return false;
        }
        if (body_.size() < want)
          body_.append(step.data.substr(0, std::min<size_t>(step.data.size(), want - body_.size())));
        raw += step.consumed;
        if (step.done) done = true;
        if (step.done || step.consumed == 0 || body_.size() >= want) break;
      }
      if (done || body_.size() >= want) break;
    }
    if (in_.tail_room() < 16 * 1024) in_.reserve_tail(16 * 1024);
    const bool more = co_await read_body_bytes();
    if (!more) co_return false;
  }
  // Growing the buffer may have moved the head: its parsed views must follow.
  if (in_.data() != head_at) reparse_head();
  if (chunked) {
    held = body_;
    complete = done;
  } else {
    const uint64_t have = in_.size() - head;
    held = in_.view().substr(head, static_cast<size_t>(std::min(have, cl)));
    complete = have >= cl;
  }
  co_return true;
}

}  // namespace gh::proxy
