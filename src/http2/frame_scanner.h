// Finds the frame headers (RFC 9113 4.1) in the bytes a peer sends, ahead of
// nghttp2, so every frame can be counted against the abuse budgets, also
// the ones nghttp2 skips without a callback (e.g. DATA or PRIORITY on a
// closed stream). Internal to src/http2. Costs one look per frame; payloads
// are skipped, never copied (at most 9 header bytes are kept between calls).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace gh::http2 {

struct FrameHead {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
};

class FrameScanner {
 public:
  // `client_preface`: the bytes start with the 24-byte client magic (server
  // role). If they turn out not to, the scanner stops for good and leaves
  // the error to nghttp2.
  explicit FrameScanner(bool client_preface) : preface_left_(client_preface ? 24 : 0) {}

  // Calls `on_frame(const FrameHead&)` for each frame header completed in
  // `bytes`, in order; stops when it returns false and then returns false.
  template <class F>
  bool scan(std::string_view bytes, F&& on_frame) {
    const char* p = bytes.data();
    size_t n = bytes.size();
    while (n > 0 && !stopped_) {
      if (preface_left_ > 0) {
        size_t k = n < preface_left_ ? n : preface_left_;
        if (std::memcmp(p, NGHTTP2_CLIENT_MAGIC + (24 - preface_left_), k) != 0) stopped_ = true;
        preface_left_ -= k;
        p += k;
        n -= k;
        continue;
      }
      if (skip_ > 0) {
        size_t k = n < skip_ ? n : size_t(skip_);
        skip_ -= k;
        p += k;
        n -= k;
        continue;
      }
      size_t k = 9 - have_ < n ? 9 - have_ : n;
      std::memcpy(hd_ + have_, p, k);
      have_ += k;
      p += k;
      n -= k;
      if (have_ < 9) break;
      have_ = 0;
      FrameHead h;
      h.length = uint32_t(hd_[0]) << 16 | uint32_t(hd_[1]) << 8 | hd_[2];
      h.type = hd_[3];
      h.flags = hd_[4];
      h.stream = (uint32_t(hd_[5]) & 0x7f) << 24 | uint32_t(hd_[6]) << 16 | uint32_t(hd_[7]) << 8 | hd_[8];
      skip_ = h.length;
      if (!on_frame(h)) return false;
    }
    return true;
  }

 private:
  size_t preface_left_;
  bool stopped_ = false;
  uint8_t hd_[9] = {};
  size_t have_ = 0;
  uint64_t skip_ = 0;
};

}  // namespace gh::http2
