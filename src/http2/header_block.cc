#include "http2/header_block.h"

#include <nghttp2/nghttp2.h>

#include <cstring>

namespace gh::http2 {

namespace {

std::string_view view(nghttp2_rcbuf* buf) {
  nghttp2_vec v = nghttp2_rcbuf_get_buf(buf);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

// RFC 9113 6.5.2: the size of a field is its name and value plus 32.
constexpr size_t kFieldOverhead = 32;

}  // namespace

HeaderBlock::HeaderBlock(HeaderBlock&& o) noexcept
    : method(o.method), scheme(o.scheme), authority(o.authority), path(o.path),
      protocol(o.protocol), status(o.status), content_length(o.content_length),
      fields_(std::move(o.fields_)), refs_(std::move(o.refs_)), cookie_(std::move(o.cookie_)),
      list_bytes_(o.list_bytes_) {
  o.refs_.clear();
  o.drop_fields();
}

HeaderBlock& HeaderBlock::operator=(HeaderBlock&& o) noexcept {
  if (this != &o) {
    release();
    method = o.method;
    scheme = o.scheme;
    authority = o.authority;
    path = o.path;
    protocol = o.protocol;
    status = o.status;
    content_length = o.content_length;
    fields_ = std::move(o.fields_);
    refs_ = std::move(o.refs_);
    cookie_ = std::move(o.cookie_);
    list_bytes_ = o.list_bytes_;
    o.refs_.clear();
    o.drop_fields();
  }
  return *this;
}

HeaderBlock::~HeaderBlock() { release(); }

void HeaderBlock::release() {
  for (nghttp2_rcbuf* b : refs_) nghttp2_rcbuf_decref(b);
  refs_.clear();
}

void HeaderBlock::keep(nghttp2_rcbuf* buf) {
  // Static-table strings live as long as the library; no reference needed.
  if (nghttp2_rcbuf_is_static(buf)) return;
  nghttp2_rcbuf_incref(buf);
  if (refs_.empty()) refs_.reserve(32);   // (one allocation for most heads)
  refs_.push_back(buf);
}

size_t HeaderBlock::add(nghttp2_rcbuf* name_buf, nghttp2_rcbuf* value_buf, bool store) {
  std::string_view name = view(name_buf);
  std::string_view value = view(value_buf);
  list_bytes_ += name.size() + value.size() + kFieldOverhead;
  if (!store) return list_bytes_;
  if (!name.empty() && name[0] == ':') {
    std::string_view* slot = nullptr;
    if (name == ":method") slot = &method;
    else if (name == ":scheme") slot = &scheme;
    else if (name == ":authority") slot = &authority;
    else if (name == ":path") slot = &path;
    else if (name == ":protocol") slot = &protocol;
    else if (name == ":status") {
      int s = 0;
      for (char c : value) s = (c >= '0' && c <= '9' && s < 1000) ? s * 10 + (c - '0') : 1000;
      status = value.size() == 3 ? s : 0;
      return list_bytes_;  // the number is all we need of it
    }
    if (slot) {
      keep(value_buf);
      *slot = value;
    }
    return list_bytes_;
  }
  keep(name_buf);
  keep(value_buf);
  if (fields_.empty()) fields_.reserve(16);
  fields_.push_back({name, value});
  return list_bytes_;
}

void HeaderBlock::drop_fields() {
  release();
  fields_.clear();
  fields_.shrink_to_fit();
  cookie_.reset();
  method = scheme = authority = path = protocol = {};
  status = 0;
  content_length.reset();
}

bool HeaderBlock::finish(bool request) {
  size_t crumbs = 0, crumb_bytes = 0;
  std::string_view host;
  bool has_host = false;
  for (const http::Field& f : fields_) {
    if (f.name == "cookie") {
      ++crumbs;
      crumb_bytes += f.value.size();
    } else if (f.name == "content-length" && !content_length) {
      uint64_t n = 0;
      for (char c : f.value) n = n * 10 + uint64_t(c - '0');  // digits only: nghttp2 checked
      content_length = n;
    } else if (f.name == "host" && !has_host) {
      host = f.value;
      has_host = true;
    }
  }
  if (request && crumbs > 1) {
    // RFC 9113 8.2.3: crumbs become one field, joined with "; ".
    size_t len = crumb_bytes + 2 * (crumbs - 1);
    cookie_ = std::make_unique<char[]>(len);
    char* p = cookie_.get();
    size_t first = fields_.size();
    size_t out = 0;
    for (size_t i = 0; i < fields_.size(); ++i) {
      const http::Field f = fields_[i];
      if (f.name == "cookie") {
        if (first == fields_.size()) {
          first = i;
        } else {
          *p++ = ';';
          *p++ = ' ';
        }
        std::memcpy(p, f.value.data(), f.value.size());
        p += f.value.size();
        if (i != first) continue;  // later crumbs leave the list
      }
      fields_[out++] = f;
    }
    fields_.resize(out);
    fields_[first].value = std::string_view(cookie_.get(), len);
  }
  if (request && has_host) {
    if (authority.empty()) authority = host;
    else if (!http::iequals(authority, host)) return false;
  }
  return true;
}

}  // namespace gh::http2
