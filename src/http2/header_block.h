// One decoded HTTP/2 header block (a request or response head, or trailers)
// as protocol-neutral views, and the rules for the header fields we send.
//
// Zero-copy: names and values point into nghttp2's reference-counted HPACK
// buffers (nghttp2_rcbuf), which the block holds a reference to; only the
// cookie crumbs of a request, joined into one field (RFC 9113 8.2.3), get a
// buffer of their own. Every view stays valid as long as the HeaderBlock
// lives, moves included, even after the connection that made it is gone.
//
// Threads: any thread may read the views while the block lives, but the
// block must be destroyed (or moved-into) on the thread that runs its
// connection: nghttp2's reference counts are not atomic, and buffers of the
// HPACK dynamic table are shared with the connection's decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "http/exchange.h"

struct nghttp2_rcbuf;

namespace gh::http2 {

class HeaderBlock {
 public:
  HeaderBlock() = default;
  HeaderBlock(HeaderBlock&& other) noexcept;
  HeaderBlock& operator=(HeaderBlock&& other) noexcept;
  HeaderBlock(const HeaderBlock&) = delete;
  HeaderBlock& operator=(const HeaderBlock&) = delete;
  ~HeaderBlock();

  // Pseudo-header fields (RFC 9113 8.3), empty when absent. nghttp2 has
  // checked them: a request has :method, and :scheme and :path unless it is
  // a plain CONNECT (then :authority only); :protocol only on CONNECT and
  // only with SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 4).
  std::string_view method;
  std::string_view scheme;
  std::string_view authority;  // :authority, or the Host field when :authority is absent
  std::string_view path;       // as sent, query included; "*" for OPTIONS *
  std::string_view protocol;   // ":protocol" of an extended CONNECT (RFC 8441)
  int status = 0;              // :status of a response (client role); 0 otherwise

  // Content-Length, when the block has one (nghttp2 has checked it is one
  // decimal number and will check the DATA total against it).
  std::optional<uint64_t> content_length;

  // Regular fields in arrival order: names lowercase (nghttp2 refuses
  // uppercase), values free of NUL/CR/LF and of leading/trailing whitespace
  // (RFC 9113 8.2.1). The cookie crumbs of a request are one field, at the
  // first crumb's place, joined with "; " (RFC 9113 8.2.3).
  std::span<const http::Field> fields() const { return fields_; }

  // The block's size as RFC 9113 6.5.2 counts it (pseudo-header fields
  // included, before cookie crumbs are joined).
  size_t list_bytes() const { return list_bytes_; }

  bool empty() const { return fields_.empty() && method.empty() && status == 0; }

  // --- used by the codec while decoding ---------------------------------
  // Adds one decoded field, taking a reference on its buffers. Pseudo-header
  // fields go to the members above, others to fields(). Returns the new
  // list_bytes(). `store` false counts the size only.
  size_t add(nghttp2_rcbuf* name, nghttp2_rcbuf* value, bool store);
  // Drops every field and reference (list_bytes() stays: it is what the
  // peer sent).
  void drop_fields();
  // After the block's last field: joins cookie crumbs, parses
  // Content-Length, takes Host as authority when :authority is absent.
  // Returns false when Host and :authority name different authorities
  // (RFC 9113 8.3.1: malformed).
  bool finish(bool request);

 private:
  void release();
  void keep(nghttp2_rcbuf* buf);

  std::vector<http::Field> fields_;
  std::vector<nghttp2_rcbuf*> refs_;  // one reference each, released in the destructor
  std::unique_ptr<char[]> cookie_;    // joined cookie value, when there were crumbs
  size_t list_bytes_ = 0;
};

// The protocol-neutral request head of a request_head event's block: views
// into `h` (so `h` must outlive it), version 20. The caller fills
// `normalized` (http::normalize_path) and `trailers` itself.
inline http::RequestHead to_request_head(const HeaderBlock& h) {
  http::RequestHead r;
  r.method = h.method;
  r.scheme = h.scheme;
  r.authority = h.authority;
  r.path = h.path;
  r.fields = h.fields();
  r.version = 20;
  return r;
}

}  // namespace gh::http2
