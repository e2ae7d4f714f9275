#include "admin/json.h"

#include <cstdio>
#include <ctime>

namespace gh::admin {


std::string format_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  int64_t ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  time_t tt = static_cast<time_t>(secs);
  tm parts{};
  gmtime_r(&tt, &parts);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(ms - secs * 1000));
  return buf;
}

void JsonWriter::newline() {
  out_ += '\n';
  out_.append(2 * has_items_.size(), ' ');
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (has_items_.empty()) return;  // top-level value
  if (has_items_.back()) out_ += ',';
  has_items_.back() = true;
  newline();
}

void JsonWriter::open(char c) {
  before_value();
  out_ += c;
  has_items_.push_back(false);
}

void JsonWriter::close(char c) {
  if (has_items_.empty()) return;  // unbalanced: ignore rather than corrupt
  bool had = has_items_.back();
  has_items_.pop_back();
  if (had) newline();
  out_ += c;
}

void JsonWriter::key(std::string_view k) {
  before_value();
  append_json_string(out_, k);
  out_ += ": ";
  after_key_ = true;
}

void JsonWriter::value(std::string_view s) {
  before_value();
  append_json_string(out_, s);
}

void JsonWriter::null() {
  before_value();
  out_ += "null";
}

void JsonWriter::write_bool(bool v) {
  before_value();
  out_ += v ? "true" : "false";
}

void JsonWriter::write_int(int64_t v) {
  before_value();
  out_ += std::to_string(v);
}

void JsonWriter::write_uint(uint64_t v) {
  before_value();
  out_ += std::to_string(v);
}

}  // namespace gh::admin
