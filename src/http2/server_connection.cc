#include "http2/server_connection.h"

#include <nghttp2/nghttp2.h>

#include "http2/callbacks.h"
#include "http2/out_fields.h"
#include "http2/stream.h"

namespace gh::http2 {

namespace {

// Three digits of a status in 100..999.
std::string_view status_digits(int status, char (&buf)[3]) {
  buf[0] = char('0' + status / 100);
  buf[1] = char('0' + status / 10 % 10);
  buf[2] = char('0' + status % 10);
  return {buf, 3};
}

}  // namespace

ServerConnection::ServerConnection(const Limits& limits) : Connection(Role::server, limits) {}

bool ServerConnection::submit_response(int32_t id, int status,
                                       std::span<const http::Field> fields, bool end_stream) {
  Stream* s = find(id);
  if (!s || !s->known || s->head_sent || s->app_reset || fatal() || status < 200 || status > 599)
    return false;
  char digits[3];
  scratch_->clear();
  scratch_->pseudo(":status", status_digits(status, digits));
  if (!scratch_->add(fields, false, false)) return false;
  nghttp2_data_provider prd = Callbacks::provider(*s);
  int rv = nghttp2_submit_response(session_, id, scratch_->nva(), scratch_->size(),
                                   end_stream ? nullptr : &prd);
  if (rv != 0) return false;
  s->head_sent = true;
  s->provider = !end_stream;
  s->out_eof = end_stream;
  return true;
}

bool ServerConnection::submit_interim(int32_t id, int status,
                                      std::span<const http::Field> fields) {
  Stream* s = find(id);
  if (!s || !s->known || s->head_sent || s->app_reset || fatal() || status < 100 ||
      status > 199 || status == 101)
    return false;
  char digits[3];
  scratch_->clear();
  scratch_->pseudo(":status", status_digits(status, digits));
  if (!scratch_->add(fields, false, false)) return false;
  return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, scratch_->nva(),
                                scratch_->size(), nullptr) == 0;
}

}  // namespace gh::http2
