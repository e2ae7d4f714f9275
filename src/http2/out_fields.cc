#include "http2/out_fields.h"

#include "http/token.h"

namespace gh::http2 {

namespace {

using http::is_tchar;

bool ieq_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}

constexpr auto trim = http::trim_ows;

}  // namespace

bool connection_specific(std::string_view n) {
  return ieq_lower(n, "connection") || ieq_lower(n, "keep-alive") ||
         ieq_lower(n, "proxy-connection") || ieq_lower(n, "transfer-encoding") ||
         ieq_lower(n, "upgrade");
}

void OutFields::push(std::string_view name, std::string_view value, bool lower) {
  Span s{uint32_t(bytes_.size()), uint32_t(name.size()), 0, uint32_t(value.size())};
  for (char c : name) bytes_.push_back(lower && c >= 'A' && c <= 'Z' ? char(c + 32) : c);
  s.value_at = uint32_t(bytes_.size());
  bytes_.append(value);
  spans_.push_back(s);
}

void OutFields::pseudo(std::string_view name, std::string_view value) { push(name, value, false); }

bool OutFields::add(std::span<const http::Field> fields, bool request, bool has_authority) {
  for (const http::Field& f : fields) {
    if (f.name.empty()) return false;
    for (char c : f.name)
      if (!is_tchar(static_cast<unsigned char>(c))) return false;
    for (char c : f.value)
      if (c == '\0' || c == '\r' || c == '\n') return false;
    if (connection_specific(f.name)) continue;
    std::string_view value = trim(f.value);
    if (ieq_lower(f.name, "te")) {
      // RFC 9113 8.2.2: TE may appear in a request, with "trailers" only.
      if (!request || !ieq_lower(value, "trailers")) continue;
    }
    if (request && has_authority && ieq_lower(f.name, "host")) continue;
    push(f.name, value, true);
  }
  return true;
}

void OutFields::clear() {
  bytes_.clear();
  spans_.clear();
  nv_.clear();
}

const nghttp2_nv* OutFields::nva() {
  nv_.clear();
  nv_.reserve(spans_.size());
  auto* base = reinterpret_cast<uint8_t*>(bytes_.data());
  for (const Span& s : spans_)
    nv_.push_back({base + s.name_at, base + s.value_at, s.name_len, s.value_len, NGHTTP2_NV_FLAG_NONE});
  return nv_.data();
}

}  // namespace gh::http2
