// Test helpers for the http2 codec: a second nghttp2 session acting as the
// peer (client to test ServerConnection, server to test ClientConnection),
// hand-made frames for attacks, a parser for the frames our side writes, and
// a harness pumping bytes between the two. Everything is in memory and
// deterministic (the clock is a number the test sets).
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http2/client_connection.h"
#include "http2/server_connection.h"

namespace h2test {

using gh::http2::Event;
using gh::http2::EventKind;
using NV = std::vector<std::pair<std::string, std::string>>;

// --- raw frames ----------------------------------------------------------------

inline std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  uint32_t len = uint32_t(payload.size());
  f.push_back(char(len >> 16));
  f.push_back(char(len >> 8));
  f.push_back(char(len));
  f.push_back(char(type));
  f.push_back(char(flags));
  f.push_back(char((stream >> 24) & 0x7f));
  f.push_back(char(stream >> 16));
  f.push_back(char(stream >> 8));
  f.push_back(char(stream));
  f.append(payload);
  return f;
}
inline std::string u32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
inline std::string settings(std::vector<std::pair<uint16_t, uint32_t>> iv, bool ack = false) {
  std::string p;
  for (auto [id, v] : iv) {
    p.push_back(char(id >> 8));
    p.push_back(char(id));
    p += u32(v);
  }
  return frame(NGHTTP2_SETTINGS, ack ? NGHTTP2_FLAG_ACK : 0, 0, p);
}
inline std::string preface() { return std::string(NGHTTP2_CLIENT_MAGIC) + settings({}); }
inline std::string settings_ack() { return settings({}, true); }
inline std::string rst(uint32_t stream, uint32_t code) {
  return frame(NGHTTP2_RST_STREAM, 0, stream, u32(code));
}
inline std::string window_update(uint32_t stream, uint32_t inc) {
  return frame(NGHTTP2_WINDOW_UPDATE, 0, stream, u32(inc));
}
inline std::string ping(bool ack = false) {
  return frame(NGHTTP2_PING, ack ? NGHTTP2_FLAG_ACK : 0, 0, std::string(8, 'p'));
}
inline std::string data(uint32_t stream, std::string_view payload, bool end) {
  return frame(NGHTTP2_DATA, end ? NGHTTP2_FLAG_END_STREAM : 0, stream, payload);
}

// HPACK encoder for hand-made HEADERS frames (keeps its dynamic table).
class Hpack {
 public:
  Hpack() { nghttp2_hd_deflate_new(&d_, 4096); }
  ~Hpack() { nghttp2_hd_deflate_del(d_); }
  std::string encode(const NV& nv) {
    std::vector<nghttp2_nv> v;
    for (auto& [n, val] : nv)
      v.push_back({(uint8_t*)n.data(), (uint8_t*)val.data(), n.size(), val.size(), NGHTTP2_NV_FLAG_NONE});
    std::string out(nghttp2_hd_deflate_bound(d_, v.data(), v.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(d_, (uint8_t*)out.data(), out.size(), v.data(), v.size());
    EXPECT_GE(n, 0);
    out.resize(size_t(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

inline NV get_request(std::string path = "/") {
  return {{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", path}};
}
inline std::string headers(uint32_t stream, std::string_view block, bool end_stream,
                           bool end_headers = true) {
  uint8_t f = (end_stream ? NGHTTP2_FLAG_END_STREAM : 0) | (end_headers ? NGHTTP2_FLAG_END_HEADERS : 0);
  return frame(NGHTTP2_HEADERS, f, stream, block);
}

// Frames as our side wrote them.
struct Frame {
  uint8_t type = 0, flags = 0;
  uint32_t stream = 0;
  std::string payload;
  uint32_t code() const {  // RST_STREAM / GOAWAY error code
    size_t at = type == NGHTTP2_GOAWAY ? 4 : 0;
    if (payload.size() < at + 4) return ~0u;
    auto b = [&](size_t i) { return uint32_t(uint8_t(payload[at + i])); };
    return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
  }
  uint32_t u32_at(size_t at) const {
    auto b = [&](size_t i) { return uint32_t(uint8_t(payload[at + i])); };
    return (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3)) & 0x7fffffff;
  }
};
inline std::vector<Frame> parse(std::string_view b) {
  std::vector<Frame> out;
  if (b.substr(0, 24) == NGHTTP2_CLIENT_MAGIC) b.remove_prefix(24);
  while (b.size() >= 9) {
    size_t len = size_t(uint8_t(b[0])) << 16 | size_t(uint8_t(b[1])) << 8 | uint8_t(b[2]);
    if (b.size() < 9 + len) break;
    Frame f;
    f.type = uint8_t(b[3]);
    f.flags = uint8_t(b[4]);
    f.stream = (uint32_t(uint8_t(b[5])) & 0x7f) << 24 | uint32_t(uint8_t(b[6])) << 16 |
               uint32_t(uint8_t(b[7])) << 8 | uint8_t(b[8]);
    f.payload = std::string(b.substr(9, len));
    out.push_back(std::move(f));
    b.remove_prefix(9 + len);
  }
  return out;
}
inline const Frame* find_frame(const std::vector<Frame>& fs, uint8_t type, uint32_t stream = ~0u) {
  for (auto& f : fs)
    if (f.type == type && (stream == ~0u || f.stream == stream)) return &f;
  return nullptr;
}
inline size_t count_frames(const std::vector<Frame>& fs, uint8_t type) {
  size_t n = 0;
  for (auto& f : fs) n += f.type == type;
  return n;
}

// --- events, copied so they outlive the bytes they viewed --------------------------

struct Rec {
  Event ev;
  std::string data;
};

// Drains `c`'s events into `out`, copying data views.
inline void drain(gh::http2::Connection& c, std::vector<Rec>& out) {
  Event ev;
  while (c.next_event(ev)) {
    Rec r;
    r.data = std::string(ev.data);
    r.ev = std::move(ev);
    r.ev.data = {};
    out.push_back(std::move(r));
  }
}
inline std::vector<const Rec*> of_kind(const std::vector<Rec>& v, EventKind k) {
  std::vector<const Rec*> out;
  for (auto& r : v)
    if (r.ev.kind == k) out.push_back(&r);
  return out;
}
inline std::string field(const gh::http2::HeaderBlock& h, std::string_view name) {
  for (auto& f : h.fields())
    if (f.name == name) return std::string(f.value);
  return "<none>";
}

// Everything our side has to write, marked written.
inline std::string take_output(gh::http2::Connection& c) {
  std::string all;
  for (int i = 0; i < 10000; ++i) {
    std::string_view v = c.pending_output();
    if (v.empty()) break;
    all.append(v);
    c.output_written(v.size());
  }
  return all;
}

// --- the peer: a real nghttp2 session -------------------------------------------

struct PeerStream {
  std::vector<int> statuses;  // every :status seen (interim ones too)
  NV head, trailers;
  std::string body;
  bool ended = false;
  uint32_t reset = ~0u;
  int blocks = 0;
  int fields_in_block = 0;
  bool in_trailers = false;
};

class Peer {
 public:
  // server = true: a server peer (tests ClientConnection).
  explicit Peer(bool server, bool auto_window = true,
                std::vector<nghttp2_settings_entry> iv = {}) : server_(server) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    if (!auto_window) nghttp2_option_set_no_auto_window_update(opt, 1);
    if (server)
      nghttp2_session_server_new2(&s_, cb, this, opt);
    else
      nghttp2_session_client_new2(&s_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  }
  ~Peer() { nghttp2_session_del(s_); }
  nghttp2_session* session() { return s_; }

  // Client peer: a request; `body` sent as DATA when not empty (`trailers`
  // after it when given).
  int32_t request(const NV& nv, std::string body = {}, NV trailers = {}, bool end = true) {
    auto v = to_nv(nv);
    int32_t id;
    if (body.empty() && trailers.empty() && end) {
      id = nghttp2_submit_request(s_, nullptr, v.data(), v.size(), nullptr, nullptr);
    } else {
      auto src = std::make_unique<Source>(Source{std::move(body), 0, std::move(trailers), end});
      nghttp2_data_provider prd;
      prd.source.ptr = src.get();
      prd.read_callback = read;
      id = nghttp2_submit_request(s_, nullptr, v.data(), v.size(), &prd, nullptr);
      sources_.push_back(std::move(src));
    }
    return id;
  }
  // Server peer: a response.
  void respond(int32_t id, const NV& nv, std::string body = {}, NV trailers = {}) {
    auto v = to_nv(nv);
    if (body.empty() && trailers.empty()) {
      nghttp2_submit_response(s_, id, v.data(), v.size(), nullptr);
      return;
    }
    auto src = std::make_unique<Source>(Source{std::move(body), 0, std::move(trailers), true});
    nghttp2_data_provider prd;
    prd.source.ptr = src.get();
    prd.read_callback = read;
    nghttp2_submit_response(s_, id, v.data(), v.size(), &prd);
    sources_.push_back(std::move(src));
  }
  void consume(int32_t id, size_t n) { nghttp2_session_consume(s_, id, n); }

  std::string out() {
    std::string o;
    for (;;) {
      const uint8_t* p;
      ssize_t n = nghttp2_session_mem_send(s_, &p);
      if (n <= 0) break;
      o.append(reinterpret_cast<const char*>(p), size_t(n));
    }
    return o;
  }
  void in(std::string_view b) {
    ssize_t n = nghttp2_session_mem_recv(s_, reinterpret_cast<const uint8_t*>(b.data()), b.size());
    EXPECT_EQ(n, ssize_t(b.size())) << nghttp2_strerror(int(n));
  }

  std::map<int32_t, PeerStream> streams;
  std::vector<int32_t> requests;  // server peer: request stream ids, in order
  bool goaway = false;
  uint32_t goaway_code = 0;
  int32_t goaway_last = 0;
  int goaways = 0;
  int pings = 0;

 private:
  struct Source {
    std::string body;
    size_t at;
    NV trailers;
    bool end;
  };
  static std::vector<nghttp2_nv> to_nv(const NV& nv) {
    std::vector<nghttp2_nv> v;
    for (auto& [n, val] : nv)
      v.push_back({(uint8_t*)n.data(), (uint8_t*)val.data(), n.size(), val.size(), NGHTTP2_NV_FLAG_NONE});
    return v;
  }
  static ssize_t read(nghttp2_session* s, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                      nghttp2_data_source* src, void*) {
    auto* so = static_cast<Source*>(src->ptr);
    size_t n = std::min(len, so->body.size() - so->at);
    std::memcpy(buf, so->body.data() + so->at, n);
    so->at += n;
    if (so->at == so->body.size()) {
      if (!so->end) return n == 0 ? ssize_t(NGHTTP2_ERR_DEFERRED) : ssize_t(n);
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!so->trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        auto v = to_nv(so->trailers);
        nghttp2_submit_trailer(s, id, v.data(), v.size());
      }
    }
    return ssize_t(n);
  }
  static Peer& self(void* u) { return *static_cast<Peer*>(u); }
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto& p = self(u);
    if (p.server_ && f->headers.cat == NGHTTP2_HCAT_REQUEST) p.requests.push_back(f->hd.stream_id);
    auto& st = p.streams[f->hd.stream_id];
    st.blocks++;
    st.fields_in_block = 0;
    st.in_trailers = f->headers.cat == NGHTTP2_HCAT_HEADERS;
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                       const uint8_t* v, size_t vl, uint8_t, void* u) {
    auto& st = self(u).streams[f->hd.stream_id];
    std::string name((const char*)n, nl), value((const char*)v, vl);
    // Client peer: a later block that starts with :status is a response.
    if (st.fields_in_block++ == 0 && name == ":status") st.in_trailers = false;
    if (name == ":status") st.statuses.push_back(std::stoi(value));
    (st.in_trailers ? st.trailers : st.head).emplace_back(name, value);
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
    self(u).streams[id].body.append((const char*)d, n);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto& p = self(u);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      p.goaway = true;
      p.goaways++;
      p.goaway_code = f->goaway.error_code;
      p.goaway_last = f->goaway.last_stream_id;
    }
    if (f->hd.type == NGHTTP2_PING && !(f->hd.flags & NGHTTP2_FLAG_ACK)) p.pings++;
    if (f->hd.type == NGHTTP2_RST_STREAM) p.streams[f->hd.stream_id].reset = f->rst_stream.error_code;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
      p.streams[f->hd.stream_id].ended = true;
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t id, uint32_t code, void* u) {
    auto& st = self(u).streams[id];
    if (code != 0 && st.reset == ~0u) st.reset = code;
    return 0;
  }

  bool server_;
  nghttp2_session* s_ = nullptr;
  std::vector<std::unique_ptr<Source>> sources_;
};

// Moves bytes both ways until neither side has any, draining our events.
// Returns false when our side said the connection is over.
inline bool pump(Peer& peer, gh::http2::Connection& conn, std::vector<Rec>& events,
                 uint64_t now = 0) {
  bool alive = true;
  for (int round = 0; round < 1000; ++round) {
    bool moved = false;
    std::string o = peer.out();
    if (!o.empty()) {
      alive = conn.receive(o, now) && alive;
      drain(conn, events);
      moved = true;
    }
    std::string_view v = conn.pending_output();
    if (!v.empty()) {
      peer.in(v);
      conn.output_written(v.size());
      drain(conn, events);
      moved = true;
    }
    if (!moved) break;
  }
  return alive;
}

}  // namespace h2test
