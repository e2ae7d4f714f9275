// The HTTP/1 request body before it goes upstream: received whole when it
// fits (request buffering), else streamed from the connection; either way
// described to the forward path as a RequestBody (downstream.h).
#include <cstdio>

#include "proxy/session.h"

namespace gh::proxy {

using namespace gh::net;
using http1::BodyKind;

// Receives the request body before any backend is chosen when it fits
// limits.request_buffer, so a client that sends slowly costs the proxy some
// memory and never a backend worker (nginx's request buffering), and the
// body can be sent again if a try fails. A Content-Length body stays in in_
// after the head; a chunked one is decoded into body_ and goes on with a
// Content-Length (chunk-coded again only when it has trailers). Bodies that
// are larger (or chunked beyond the limit) stream instead, as before.
// Expect: 100-continue is answered here when the body is to be received
// here (as nginx and Envoy do): the backend then gets the whole request and
// no Expect. Answers the client itself for 400/408/413 and returns answered;
// answered also when the client went away (rec_.status 499).
awaitable<Session::BodyWait> Session::receive_request_body() {
  const auto& srv = rt_->cfg.server;
  const uint64_t limit = srv.limits.request_buffer;
  const uint64_t max_body = srv.limits.max_body_bytes;
  const size_t head = req_.head_size;
  const bool chunked = req_.body == BodyKind::chunked;
  const uint64_t cl = chunked ? 0 : req_.content_length;
  if (req_.body == BodyKind::none) co_return BodyWait::complete;
  if (limit == 0 || (!chunked && cl > limit)) co_return BodyWait::stream;

  const char* const head_at = in_.data();
  if (req_.expect_continue && in_.size() == head) {
    sent_continue_ = true;
    const bool awaited = co_await write_down("HTTP/1.1 100 Continue\r\n\r\n");
    if (!awaited) {
      rec_.status = 499;
      closing_ = true;
      co_return BodyWait::answered;
    }
  }
  size_t raw = 0;           // chunked: bytes after the head decoded so far
  uint64_t payload = 0;
  if (chunked) {
    req_chunks_.reset();
    body_.clear();
  }
  for (;;) {
    if (!chunked && in_.size() - head >= cl) {
      up_body_ = UpBody::buffered;
      raw_body_size_ = static_cast<size_t>(cl);
      payload = cl;
      break;
    }
    if (chunked) {
      bool done = false;
      for (;;) {
        auto step = req_chunks_.next(in_.view().substr(head + raw));
        if (step.error) {
          closing_ = true;
          co_await send_error(400, "http_request_error", step.detail);
          co_return BodyWait::answered;
        }
        body_.append(step.data);
        payload += step.data.size();
        raw += step.consumed;
        if (max_body && payload > max_body) {
          closing_ = true;
          co_await send_error(413, "http_request_error", "request body larger than limits.max_body_bytes");
          co_return BodyWait::answered;
        }
        if (step.done) {
          done = true;
          break;
        }
        if (step.consumed == 0) break;
      }
      if (done) {
        up_body_ = UpBody::rebuilt;
        raw_body_size_ = raw;
        up_body_chunked_ = !req_chunks_.trailers().empty();
        if (up_body_chunked_) {
          char size_line[24];
          int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", body_.size());
          std::string coded(size_line, static_cast<size_t>(n));
          if (!body_.empty()) {
            coded += body_;
            coded += "\r\n0\r\n";
          }
          coded += req_chunks_.trailers();
          coded += "\r\n";
          body_ = std::move(coded);
        }
        break;
      }
      if (in_.size() - head > limit) {
        // Larger than we hold: stream it from the start (the source decodes again).
        body_.clear();
        if (in_.data() != head_at) reparse_head();
        co_return BodyWait::stream;
      }
    }
    const size_t want = chunked ? 16 * 1024 : static_cast<size_t>(head + cl - in_.size());
    if (in_.tail_room() < want) {
      if (chunked) in_.reserve_tail(want);
      else in_.reserve_tail_exact(want);   // the body's size is known
    }
    const bool more = co_await read_body_bytes();
    if (!more) co_return BodyWait::answered;
  }
  body_in_ = payload;
  body_unread_ = false;
  // Growing the buffer may have moved the head: its parsed views must follow.
  if (in_.data() != head_at) reparse_head();
  co_return BodyWait::complete;
}

// Parses the request head again after in_ moved: the same bytes give the same
// head, now with views into the buffer's new place.
void Session::reparse_head() {
  http1::Limits lim;
  lim.max_head = rt_->cfg.server.limits.max_header_bytes;
  http1::parse_request(in_.view(), req_, lim, perr_);
  fill_exchange();
}

// The request as the forward path takes it: its body received whole or
// set up to stream, then forwarded with this session as its downstream.
awaitable<bool> Session::forward(size_t idx) {
  const auto& srv = rt_->cfg.server;
  upgrade_requested_ = req_.conn_upgrade && !req_.upgrade.empty() &&
                       !http1::iequals(req_.upgrade, "h2c");  // h2c upgrades are a smuggling vector
  m_upgrade_.assign(upgrade_requested_ ? req_.upgrade : std::string_view());

  const BodyKind kind = req_.body;
  const uint64_t cl = kind == BodyKind::content_length ? req_.content_length : 0;
  BodyWait bw = co_await receive_request_body();
  if (bw == BodyWait::answered) co_return false;
  if (pipe_->request_body_wanted() > 0) {
    const BodyCheck bc = co_await check_request_body(bw);
    if (bc != BodyCheck::pass) co_return bc == BodyCheck::answered_keep;
  }
  const size_t head = req_.head_size;

  ForwardRequest& fr = freq_;
  fr = ForwardRequest{};
  fr.rt = rt_.get();
  fr.route_index = idx;
  fr.head = &xreq_;
  fr.client = &client_;
  fr.pipeline = pipe_;
  fr.ex = &ex_;
  fr.client_host = m_host_;
  fr.request_id = request_id_;
  fr.trace = &trace_;
  fr.upgrade = m_upgrade_;
  fr.ws_key = m_ws_key_;
  fr.is_head = is_head_;
  fr.client_hash = client_hash_;
  fr.rec = &rec_;
  RequestBody& body = fr.body;
  if (kind == BodyKind::none) {
    body.kind = RequestBody::Kind::none;
  } else if (bw == BodyWait::complete) {
    body.kind = RequestBody::Kind::whole;
    if (up_body_ == UpBody::rebuilt) {
      body.whole = body_;
      body.whole_chunked = up_body_chunked_;
    } else {
      body.whole = in_.view().substr(head, static_cast<size_t>(cl));
    }
    fr.body_in = body_in_;
  } else {
    if (kind == BodyKind::chunked) {
      // Check the chunked bytes already here before anything goes upstream,
      // so a malformed body is refused without the backend ever seeing its head.
      req_chunks_.reset();
      std::string_view rest = in_.view().substr(head);
      for (;;) {
        auto step = req_chunks_.next(rest);
        if (step.error) {
          closing_ = true;
          co_await send_error(400, "http_request_error", step.detail);
          co_return false;
        }
        rest.remove_prefix(step.consumed);
        if (step.done || step.consumed == 0) break;
      }
      req_chunks_.reset();
    }
    body.kind = RequestBody::Kind::stream;
    body.length_known = kind == BodyKind::content_length;
    body.length = cl;
    body.expect_continue = req_.expect_continue;
    body_src_.emplace(down_, in_, down_dl_, srv.timeouts.client_body, kind, cl, req_chunks_, head);
    body_src_->min_rate(srv.limits.request_body_min_rate, req_.expect_continue);
    body.source = &*body_src_;
  }
  const bool keep = co_await fwd_.forward(fr, *this);
  backend_ = fwd_.backend();
  if (body.kind == RequestBody::Kind::stream) {
    body_in_ = fr.body_in;
    if (fr.body_read) body_unread_ = false;
  }
  co_return keep;
}

// The bytes of in_ the current request takes (head and a body held whole);
// any after them are the next request's.
size_t Session::request_bytes() const {
  size_t used = req_.head_size;
  if (up_body_ == UpBody::buffered) used += static_cast<size_t>(req_.content_length);
  else if (up_body_ == UpBody::rebuilt) used += raw_body_size_;
  return used;
}

// The backend got the whole request: the head and a whole body leave in_
// (a pipelined request may follow them), and large buffers go.
void Session::request_delivered() {
  in_.consume(request_bytes());
  if (in_.empty() && in_.capacity() > core::Buffer::kBlock) in_.release_if_empty();
  if (body_.capacity() > core::Buffer::kBlock) std::string().swap(body_);
}

// Reads what the client sent next into in_'s tail (reserved by the caller)
// within timeouts.client_body. False: it answered 408, or the client went
// away mid-body (logged as 499); either way the connection closes.
awaitable<bool> Session::read_body_bytes() {
  down_dl_.clear_fired();
  down_dl_.expire_in(rt_->cfg.server.timeouts.client_body);
  auto [ec, n] = co_await down_.read_some(asio::buffer(in_.tail(), in_.tail_room()));
  if (!ec && n > 0) {
    in_.commit(n);
    co_return true;
  }
  closing_ = true;
  if (down_dl_.fired()) {
    co_await send_error(408, "http_request_error", "request body not received in time");
  } else {
    rec_.status = 499;
    body_unread_ = false;
    body_in_ = in_.size() - req_.head_size;   // what had arrived (chunked: with its framing)
  }
  co_return false;
}

// Only a request held whole is watched (a streamed body's pump reads the
// client itself), and not on a connection whose client pipelines: bytes
// after the request (here, or held by OpenSSL) say it still talks, and a
// FIN after its last request is its half-close, not an abort. The watch
// itself starts at the next deadline tick (on_down_deadline): a response
// that comes sooner, as nearly all do, costs two stores, and a slow one a
// peek at the client's socket.
void Session::watch_client(bool on) {
  if (!on) {
    if (watch_due_) {
      watch_due_ = false;
      down_dl_.clear();
    }
    client_watch_.stop();
    return;
  }
  if (req_.body != http1::BodyKind::none && up_body_ == UpBody::as_received) return;
  if (in_.size() > request_bytes() || !down_.quiet()) pipelining_ = true;
  if (pipelining_) return;
  watch_due_ = true;
  down_dl_.clear_fired();
  down_dl_.expire_in(std::chrono::milliseconds(1));
}

// The client closed (or reset) its connection while the backend works on
// its request: nginx's "client prematurely closed connection" (logged 499).
void Session::on_client_closed(void* self) {
  auto* s = static_cast<Session*>(self);
  s->closing_ = true;
  s->fwd_.cancel();
}

}  // namespace gh::proxy
