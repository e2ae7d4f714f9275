// A map keyed by std::string that is looked up by std::string_view without
// building a string (C++20 heterogeneous lookup): the cache store, the
// cache's fetch table and the rate limit buckets probe it per request.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gh::core {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringViewHash, std::equal_to<>>;

}  // namespace gh::core
