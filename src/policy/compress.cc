#include "policy/compress.h"
#include "http/token.h"

#include <algorithm>
#include <array>

namespace gh::policy {

namespace {

constexpr auto trim = http::trim_ows;

// Whether a comma list field value holds `token` (case-insensitive).
bool list_has(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (size_t semi = item.find(';'); semi != std::string_view::npos) item = trim(item.substr(0, semi));
    if (http::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

CompressRule::CompressRule(const config::Compress& conf) : min_size_(conf.min_size) {
  for (const std::string& a : conf.algorithms)
    if (auto c = coding::parse_coding(a); c && *c != coding::Coding::identity) offered_.push_back(*c);
  // identity competes too, last: a client that prefers it by q-value
  // ("gzip;q=0.1, identity") gets the response as it is.
  if (!offered_.empty()) offered_.push_back(coding::Coding::identity);
  auto add_type = [this](std::string_view t) {
    if (t == "*/*") any_type_ = true;
    else if (t.size() > 2 && t.substr(t.size() - 2) == "/*") prefixes_.emplace_back(t.substr(0, t.size() - 1));
    else types_.emplace_back(t);
  };
  if (conf.types.empty()) {
    for (std::string_view t : config::kDefaultCompressTypes) add_type(t);
  } else {
    for (const std::string& t : conf.types) add_type(t);
  }
}

bool CompressRule::compresses_type(std::string_view t) const {
  if (t.empty() || t == "text/event-stream") return false;
  if (any_type_) return true;
  for (const std::string& x : types_)
    if (x == t) return true;
  for (const std::string& p : prefixes_)
    if (t.size() > p.size() && t.substr(0, p.size()) == p) return true;
  return false;
}

bool CompressRule::vary_with_accept_encoding(std::string_view vary, std::string& out) {
  if (list_has(vary, "accept-encoding") || list_has(vary, "*")) return false;
  out.assign(vary);
  out += vary.empty() ? "Accept-Encoding" : ", Accept-Encoding";
  return true;
}

CompressChoice CompressRule::choose(bool head_request, int status,
                                    std::span<const http::Field> request_fields,
                                    std::span<const http::Field> response_fields,
                                    std::optional<uint64_t> length) const {
  CompressChoice out;
  if (offered_.empty()) return out;
  if (status < 200 || status == 204 || status == 206 || status == 304) return out;
  std::string_view content_type;
  for (const http::Field& f : response_fields) {
    if (http::iequals(f.name, "content-encoding")) {
      // (A list of only "identity" is no coding: RFC 9110 8.4.)
      std::string_view v = trim(f.value);
      if (!v.empty() && !http::iequals(v, "identity")) return out;
    } else if (http::iequals(f.name, "content-range")) {
      return out;
    } else if (http::iequals(f.name, "cache-control")) {
      if (list_has(f.value, "no-transform")) return out;
    } else if (http::iequals(f.name, "content-type") && content_type.empty()) {
      content_type = f.value;
    }
  }
  // The media type: before any parameter, lower case (RFC 9110 8.3.1).
  std::string_view mt = trim(content_type.substr(0, content_type.find(';')));
  std::array<char, 128> lower{};
  if (mt.empty() || mt.size() > lower.size()) return out;
  for (size_t i = 0; i < mt.size(); ++i) {
    char c = mt[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
  }
  if (!compresses_type(std::string_view(lower.data(), mt.size()))) return out;
  if (length && *length < min_size_) return out;
  out.vary = true;
  // HEAD: never coded (the contract), but its fields say what a GET's
  // would (RFC 9110 9.3.2), Vary included.
  if (head_request) return out;
  std::array<std::string_view, 8> lines;
  size_t n = 0;
  for (const http::Field& f : request_fields)
    if (n < lines.size() && http::iequals(f.name, "accept-encoding")) lines[n++] = f.value;
  out.coding = coding::negotiate(std::span(lines.data(), n), offered_).coding;
  return out;
}

}  // namespace gh::policy
