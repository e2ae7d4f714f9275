// A small streaming JSON writer for the admin endpoints: objects, arrays,
// strings, integers, booleans and null, indented for people reading curl
// output. It has no parser and no DOM; the admin views need neither.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/json_string.h"

namespace gh::admin {

using core::append_json_string;

// RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z".
std::string format_utc(std::chrono::system_clock::time_point t);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // Inside an object: the member name for the next value.
  void key(std::string_view k);

  void value(std::string_view s);
  void value(const char* s) { value(std::string_view(s ? s : "")); }
  void value(const std::string& s) { value(std::string_view(s)); }
  template <std::integral T>
  void value(T v) {
    if constexpr (std::is_same_v<T, bool>) write_bool(v);
    else if constexpr (std::is_signed_v<T>) write_int(static_cast<int64_t>(v));
    else write_uint(static_cast<uint64_t>(v));
  }
  void null();

  // key(k) followed by value(v).
  template <class V>
  void member(std::string_view k, const V& v) {
    key(k);
    value(v);
  }

 private:
  void open(char c);
  void close(char c);
  void before_value();
  void newline();
  void write_bool(bool v);
  void write_int(int64_t v);
  void write_uint(uint64_t v);

  std::string& out_;
  std::vector<bool> has_items_;  // per open container: something written already
  bool after_key_ = false;
};

}  // namespace gh::admin
