// The nghttp2 callbacks of a Connection (internal to src/http2). One table,
// built once, shared by every session; user_data is the Connection.
#pragma once

#include <nghttp2/nghttp2.h>

#include "http2/connection.h"
#include "http2/stream.h"

namespace gh::http2 {

struct Callbacks {
  static const nghttp2_session_callbacks* table();

  // A data provider reading the stream's SendQueue (NO_COPY: the bytes are
  // copied once, queue -> output buffer, in send_data).
  static nghttp2_data_provider provider(Stream& s);

  // --- the callbacks ---
  static ssize_t send(nghttp2_session*, const uint8_t* data, size_t len, int flags, void* user);
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                       size_t length, nghttp2_data_source* source, void* user);
  static ssize_t read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void* user);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                       nghttp2_rcbuf* value, uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id,
                           const uint8_t* data, size_t len, void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                               void* user);
  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                              void* user);
  static int on_error(nghttp2_session*, int lib_error, const char* msg, size_t len, void* user);

  // Role-specific ends of a header block.
  static int server_headers_done(Connection& c, Stream& s, const nghttp2_frame* frame);
  static int client_headers_done(Connection& c, Stream& s, const nghttp2_frame* frame);
};

}  // namespace gh::http2
