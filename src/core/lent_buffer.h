// Bytes that keep arriving while a prefix of them is lent out as views (a
// body batch being written somewhere): arrivals during a loan wait aside,
// so the lent views never move or dangle; they join the rest when the loan
// ends. Used where a producer (an HTTP/2 connection's reader) appends to a
// stream's buffer while its consumer is suspended in a write.
#pragma once

#include <cstring>
#include <string_view>

#include "core/buffer.h"

namespace gh::core {

class LentBuffer {
 public:
  void append(std::string_view d) {
    if (d.empty()) return;
    Buffer& to = lent_ ? aside_ : main_;
    to.reserve_tail(d.size());
    std::memcpy(to.tail(), d.data(), d.size());
    to.commit(d.size());
  }
  // Lends the bytes held now (not those that arrive during the loan): views
  // valid until give_back(). One loan at a time.
  std::string_view lend() {
    lent_ = true;
    return main_.view();
  }
  // Ends the loan: the first `n` lent bytes are used up.
  void give_back(size_t n) {
    main_.consume(n);
    lent_ = false;
    if (!aside_.empty()) {
      main_.reserve_tail(aside_.size());
      std::memcpy(main_.tail(), aside_.data(), aside_.size());
      main_.commit(aside_.size());
      aside_.clear();
      aside_.release_if_empty();
    }
  }
  // All the bytes, when nothing is lent (a body held whole).
  std::string_view view() const { return main_.view(); }
  size_t size() const { return main_.size() + aside_.size(); }
  bool empty() const { return main_.empty() && aside_.empty(); }
  void clear() {
    main_.clear();
    aside_.clear();
    main_.release_if_empty();
    aside_.release_if_empty();
    lent_ = false;
  }

 private:
  Buffer main_;
  Buffer aside_;
  bool lent_ = false;
};

}  // namespace gh::core
