// Helpers shared by the cache layer's tests: field lines that own their
// text, and HTTP-dates.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cache/http_date.h"
#include "http/exchange.h"

namespace gh::cache::test {

// Field lines that own their text; `fields` views it.
struct Msg {
  std::vector<std::pair<std::string, std::string>> owned;
  std::vector<http::Field> fields;
  Msg(std::initializer_list<std::pair<std::string, std::string>> l) : owned(l) {
    for (auto& [n, v] : owned) fields.push_back({n, v});
  }
  Msg(const Msg&) = delete;
};

inline std::string date(int64_t t) {
  std::string s;
  append_http_date(s, t);
  return s;
}

}  // namespace gh::cache::test
