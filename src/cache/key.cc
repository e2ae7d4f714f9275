#include "cache/key.h"

#include <algorithm>

#include "http/path.h"
#include "http/token.h"

namespace gh::cache {
namespace {

using http::is_tchar;

using http::trim_ows;

// Calls f(element) for each comma-separated element of `line`, OWS-trimmed,
// empty ones skipped; commas inside quoted-strings do not split. f returns
// false to stop; so does this.
template <class F>
bool for_each_element(std::string_view line, F&& f) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i < line.size()) {
      char c = line[i];
      if (quoted) {
        if (c == '\\' && i + 1 < line.size()) ++i;
        else if (c == '"') quoted = false;
        continue;
      }
      if (c == '"') {
        quoted = true;
        continue;
      }
      if (c != ',') continue;
    }
    std::string_view e = trim_ows(line.substr(start, std::min(i, line.size()) - start));
    if (!e.empty() && !f(e)) return false;
    start = i + 1;
  }
  return true;
}

// Calls f(name) for each element of every Vary line; false as soon as f does.
template <class F>
bool for_each_vary_name(std::span<const http::Field> fields, F&& f) {
  for (const http::Field& fl : fields) {
    if (!http::iequals(fl.name, "vary")) continue;
    if (!for_each_element(fl.value, f)) return false;
  }
  return true;
}

// Appends "scheme://authority" normalized as append_primary_key describes.
void append_origin(std::string& out, std::string_view scheme, std::string_view authority) {
  for (char c : scheme) out += http::ascii_lower(c);
  out += "://";
  // The port starts at the last ':' not inside an IPv6 literal's brackets.
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    size_t bracket = authority.rfind(']');
    if (bracket != std::string_view::npos && bracket > colon) colon = std::string_view::npos;
  }
  std::string_view host = authority, port;
  if (colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  for (char c : host) out += http::ascii_lower(c);
  const bool is_default = port.empty() || (port == "80" && http::iequals(scheme, "http")) ||
                          (port == "443" && http::iequals(scheme, "https"));
  if (!is_default) {
    out += ':';
    out += port;
  }
}

// Where the secondary key goes: appended, or compared with a stored one.
struct Appender {
  std::string& out;
  bool put(std::string_view s) {
    out += s;
    return true;
  }
};

struct Comparer {
  std::string_view rest;
  bool put(std::string_view s) {
    if (rest.substr(0, s.size()) != s) return false;
    rest.remove_prefix(s.size());
    return true;
  }
};

template <class Sink>
bool emit_secondary(std::span<const http::Field> response_fields,
                    std::span<const http::Field> request_fields, Sink& sink) {
  bool first_name = true;
  return for_each_vary_name(response_fields, [&](std::string_view name) {
    if (!first_name && !sink.put("\n")) return false;
    first_name = false;
    for (char c : name) {
      char l = http::ascii_lower(c);
      if (!sink.put(std::string_view(&l, 1))) return false;
    }
    bool present = false;
    bool first_element = true;
    for (const http::Field& f : request_fields) {
      if (!http::iequals(f.name, name)) continue;
      if (!present && !sink.put(":")) return false;
      present = true;
      bool ok = for_each_element(f.value, [&](std::string_view e) {
        if (!first_element && !sink.put(", ")) return false;
        first_element = false;
        return sink.put(e);
      });
      if (!ok) return false;
    }
    return present || sink.put("!");
  });
}

// The path-and-query a reference means against the target's (RFC 3986
// 5.2.2, with the base already normalized); empty when it names another
// origin or cannot be read. `origin` receives "scheme://authority".
bool resolve(std::string_view ref, std::string_view scheme, std::string_view authority,
             std::string_view target, std::string& origin, std::string& path) {
  ref = ref.substr(0, ref.find('#'));
  if (ref.empty()) return false;
  std::string base_origin;
  append_origin(base_origin, scheme, authority);

  size_t i = 0;
  if ((ref[0] >= 'a' && ref[0] <= 'z') || (ref[0] >= 'A' && ref[0] <= 'Z')) {
    auto scheme_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '+' || c == '-' || c == '.';
    };
    while (i < ref.size() && scheme_char(ref[i])) ++i;
  }
  std::string_view ref_scheme;
  if (i > 0 && i < ref.size() && ref[i] == ':') {
    ref_scheme = ref.substr(0, i);
    ref = ref.substr(i + 1);
    if (!http::iequals(ref_scheme, "http") && !http::iequals(ref_scheme, "https")) return false;
    if (ref.substr(0, 2) != "//") return false;
  }
  if (ref.substr(0, 2) == "//") {
    ref.remove_prefix(2);
    size_t end = ref.find_first_of("/?");
    if (end == std::string_view::npos) end = ref.size();
    append_origin(origin, ref_scheme.empty() ? scheme : ref_scheme, ref.substr(0, end));
    if (origin != base_origin) return false;
    ref.remove_prefix(end);
    path = ref.empty() || ref[0] == '?' ? "/" : "";
    path += ref;
    return true;
  }
  origin = base_origin;
  std::string_view base_path = target.substr(0, target.find('?'));
  if (ref[0] == '/') {
    path = ref;
  } else if (ref[0] == '?') {
    path = base_path;
    path += ref;
  } else {
    path = base_path.substr(0, base_path.rfind('/') + 1);
    path += ref;
  }
  return true;
}

}  // namespace

void append_primary_key(std::string& out, std::string_view scheme, std::string_view authority,
                        std::string_view target) {
  append_origin(out, scheme, authority);
  out += target;
}

std::string primary_key(std::string_view scheme, std::string_view authority,
                        std::string_view target) {
  std::string out;
  out.reserve(scheme.size() + 3 + authority.size() + target.size());
  append_primary_key(out, scheme, authority, target);
  return out;
}

bool vary_unmatchable(std::span<const http::Field> response_fields) {
  return !for_each_vary_name(response_fields, [](std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(c); }) && name != "*";
  });
}

void append_secondary_key(std::string& out, std::span<const http::Field> response_fields,
                          std::span<const http::Field> request_fields) {
  Appender a{out};
  emit_secondary(response_fields, request_fields, a);
}

std::string secondary_key(std::span<const http::Field> response_fields,
                          std::span<const http::Field> request_fields) {
  std::string out;
  append_secondary_key(out, response_fields, request_fields);
  return out;
}

bool variant_matches(std::string_view stored_secondary_key,
                     std::span<const http::Field> stored_response_fields,
                     std::span<const http::Field> request_fields) {
  if (vary_unmatchable(stored_response_fields)) return false;
  Comparer c{stored_secondary_key};
  return emit_secondary(stored_response_fields, request_fields, c) && c.rest.empty();
}

bool is_safe_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

std::vector<std::string> invalidation_keys(std::string_view method, std::string_view scheme,
                                           std::string_view authority,
                                           std::string_view target, int status,
                                           std::span<const http::Field> response_fields) {
  std::vector<std::string> keys;
  if (is_safe_method(method) || status < 200 || status > 399) return keys;
  keys.push_back(primary_key(scheme, authority, target));
  for (std::string_view name : {"location", "content-location"}) {
    bool found = false;
    std::string_view ref = http::find_field(response_fields, name, &found);
    if (!found) continue;
    std::string origin, path;
    if (!resolve(ref, scheme, authority, target, origin, path)) continue;
    std::string key = std::move(origin);
    if (http::normalize_path(path, key) != http::PathStatus::ok) continue;
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace gh::cache
