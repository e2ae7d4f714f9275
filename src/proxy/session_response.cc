// Responses from the forward path in HTTP/1.1 (RFC 9112): interim
// responses, the status line, the framing this client can take (chunked,
// or close-delimited for HTTP/1.0), connection fields and HSTS.
#include "http/status.h"
#include "proxy/own_response.h"
#include "proxy/session.h"

namespace gh::proxy {

using namespace gh::net;

awaitable<bool> Session::send_interim(int status, std::span<const http::Field> fields) {
  // HTTP/1.0 clients know no interim responses; a 100 goes once (gatehouse
  // may have sent its own while receiving the body).
  if (client_minor_ < 1 || (status == 100 && sent_continue_)) co_return true;
  scratch_.clear();
  scratch_ += "HTTP/1.1 ";
  scratch_ += std::to_string(status);
  scratch_ += ' ';
  scratch_ += http::reason_phrase(status);
  scratch_ += "\r\n";
  for (const auto& h : fields) {
    if (http1::iequals(h.name, "connection") || http1::iequals(h.name, "keep-alive")) continue;
    scratch_ += h.name;
    scratch_ += ": ";
    scratch_ += h.value;
    scratch_ += "\r\n";
  }
  scratch_ += "\r\n";
  if (watch_due_) {
    // The write takes down_dl_ for its own timeout: the watch starts now.
    watch_due_ = false;
    client_watch_.start(down_.socket(), &Session::on_client_closed, this);
  }
  co_return co_await write_down(scratch_);
}

FieldWriter& Session::begin_response(int status, std::string_view reason,
                                     const ResponseFraming& fr) {
  bool keep = client_keep_alive_ && !closing_ && !fr.request_unfinished &&
              !ws_.worker.draining.load(std::memory_order_relaxed);
  chunk_out_ = false;
  if (fr.switching) {
    keep = true;   // the connection becomes the tunnel
  } else if (fr.length == ResponseFraming::Length::unknown) {
    // Chunked or close-delimited from the backend: chunked to HTTP/1.1
    // clients, close-delimited (de-chunked) to HTTP/1.0 ones.
    if (client_minor_ >= 1) chunk_out_ = true;
    else keep = false;
  }
  if (!keep) closing_ = true;
  switching_ = fr.switching;
  upgrade_to_ = fr.upgrade;
  te_other_ = fr.te_other_codings;
  out_.clear();
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(status);
  out_ += ' ';
  out_ += reason.empty() ? std::string_view(http::reason_phrase(status)) : reason;
  out_ += "\r\n";
  lines_.out = &out_;
  return lines_;
}

http::BodySink& Session::end_response() {
  if (chunk_out_) {
    // Other codings the backend applied stay applied; only the framing is ours.
    if (!te_other_.empty()) {
      out_ += "Transfer-Encoding: ";
      out_ += te_other_;
      out_ += "\r\n";
    } else {
      out_ += "Transfer-Encoding: chunked\r\n";
    }
  }
  if (switching_) {
    out_ += "Connection: upgrade\r\nUpgrade: ";
    out_ += upgrade_to_;
    out_ += "\r\n";
  } else if (closing_) {
    out_ += "Connection: close\r\n";
  } else if (client_minor_ == 0) {
    out_ += "Connection: keep-alive\r\n";
  }
  if (client_.tls) out_ += rt_->hsts_header;
  out_ += "\r\n";
  response_started_ = true;
  resp_sink_.emplace(down_, down_dl_, rt_->cfg.server.timeouts.client_body, chunk_out_);
  resp_sink_->hold_head(out_);
  return *resp_sink_;
}

// intercept_errors: the backend's error status with the route's page.
awaitable<void> Session::send_intercepted(int status) {
  if (!client_keep_alive_ || ws_.worker.draining.load(std::memory_order_relaxed)) closing_ = true;
  make_plain(own_, pipe_, status, {}, true);
  co_await send_own({});
}

}  // namespace gh::proxy
