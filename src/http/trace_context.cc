#include "http/trace_context.h"

#include <cstring>

namespace gh::http {

namespace {

// HEXDIGLC: the spec allows lowercase only.
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool all_lower_hex(std::string_view s) {
  for (char c : s)
    if (!is_lower_hex(c)) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

constexpr char kHex[] = "0123456789abcdef";

void put_hex(const uint8_t* b, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[b[i] >> 4];
    out[2 * i + 1] = kHex[b[i] & 15];
  }
}

}  // namespace

std::optional<Traceparent> parse_traceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" trace-flags (section 3.2.2)
  if (v.size() < kTraceparentSize) return std::nullopt;
  Traceparent t{v.substr(0, 2), v.substr(3, 32), v.substr(36, 16), v.substr(53, 2)};
  if (!all_lower_hex(t.version) || t.version == "ff") return std::nullopt;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  if (t.version == "00") {
    if (v.size() != kTraceparentSize) return std::nullopt;
  } else if (v.size() > kTraceparentSize && v[kTraceparentSize] != '-') {
    return std::nullopt;   // (3.2.4: the flags end the value or a dash follows them)
  }
  if (!all_lower_hex(t.trace_id) || !all_lower_hex(t.parent_id) || !all_lower_hex(t.flags))
    return std::nullopt;
  if (all_zero(t.trace_id) || all_zero(t.parent_id)) return std::nullopt;
  return t;
}

void format_traceparent(std::span<const uint8_t, 16> trace_id,
                        std::span<const uint8_t, 8> parent_id, uint8_t flags, char* out) {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  put_hex(trace_id.data(), 16, out + 3);
  out[35] = '-';
  put_hex(parent_id.data(), 8, out + 36);
  out[52] = '-';
  put_hex(&flags, 1, out + 53);
}

bool RequestTrace::read_received(std::span<const Field> fields) {
  state_ = State::none;
  std::string_view value;
  int n = 0;
  for (const Field& f : fields) {
    if (f.name.size() != 11 || !iequals(f.name, "traceparent")) continue;
    value = f.value;
    ++n;
  }
  if (n != 1) return false;
  auto t = parse_traceparent(value);
  if (!t) return false;
  std::memcpy(value_ + 3, t->trace_id.data(), 32);
  state_ = State::received;
  return true;
}

void RequestTrace::begin(const uint64_t (&words)[3]) {
  uint8_t trace[16], parent[8];
  for (int i = 0; i < 8; ++i) {
    trace[i] = static_cast<uint8_t>(words[0] >> (8 * i));
    trace[8 + i] = static_cast<uint8_t>(words[1] >> (8 * i));
    parent[i] = static_cast<uint8_t>(words[2] >> (8 * i));
  }
  if ((words[0] | words[1]) == 0) trace[15] = 1;
  if (words[2] == 0) parent[7] = 1;
  format_traceparent(trace, parent, 0, value_);
  state_ = State::started;
}

}  // namespace gh::http
