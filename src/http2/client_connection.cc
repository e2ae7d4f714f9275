#include "http2/client_connection.h"

#include <nghttp2/nghttp2.h>

#include "http2/callbacks.h"
#include "http2/out_fields.h"
#include "http2/stream.h"

namespace gh::http2 {

namespace {

bool clean(std::string_view v) {
  for (char c : v)
    if (c == '\0' || c == '\r' || c == '\n' || c == ' ' || c == '\t') return false;
  return true;
}

}  // namespace

ClientConnection::ClientConnection(const Limits& limits) : Connection(Role::client, limits) {}

bool ClientConnection::can_submit() const {
  if (fatal() || closing() || !nghttp2_session_check_request_allowed(session_))
    return false;
  uint32_t max = nghttp2_session_get_remote_settings(session_,
                                                     NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < max;
}

bool ClientConnection::extended_connect_allowed() const {
  return nghttp2_session_get_remote_settings(session_,
                                             NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

int32_t ClientConnection::submit_request(const Request& r, bool end_stream) {
  if (!can_submit()) return -1;
  if (r.method.empty() || !clean(r.method) || !clean(r.scheme) || !clean(r.authority) ||
      !clean(r.path) || !clean(r.protocol))
    return -1;
  bool plain_connect = r.method == "CONNECT" && r.protocol.empty();
  if (plain_connect) {
    if (r.authority.empty()) return -1;
  } else if (r.scheme.empty() || r.path.empty()) {
    return -1;
  }
  if (!r.protocol.empty() && (r.method != "CONNECT" || !extended_connect_allowed())) return -1;

  scratch_->clear();
  scratch_->pseudo(":method", r.method);
  if (!plain_connect) scratch_->pseudo(":scheme", r.scheme);
  if (!r.authority.empty()) scratch_->pseudo(":authority", r.authority);
  if (!plain_connect) scratch_->pseudo(":path", r.path);
  if (!r.protocol.empty()) scratch_->pseudo(":protocol", r.protocol);
  if (!scratch_->add(r.fields, true, !r.authority.empty())) return -1;

  auto s = std::make_unique<Stream>();
  nghttp2_data_provider prd = Callbacks::provider(*s);
  int32_t id = nghttp2_submit_request(session_, nullptr, scratch_->nva(), scratch_->size(),
                                      end_stream ? nullptr : &prd, nullptr);
  if (id < 0) return -1;
  s->id = id;
  s->known = true;
  s->head_sent = true;
  s->provider = !end_stream;
  s->out_eof = end_stream;
  streams_.emplace(id, std::move(s));
  ++counters_.streams;
  return id;
}

}  // namespace gh::http2
