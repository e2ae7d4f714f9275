// Helpers shared by the fuzz targets: a check that aborts (so libFuzzer
// saves the input) and small predicates the parser invariants use.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace fuzz {

// `v` lies within the first `limit` bytes of `buf`; an empty view may point anywhere.
inline bool inside(std::string_view v, std::string_view buf, size_t limit) {
  if (v.empty()) return true;
  const char* b = buf.data();
  return v.data() >= b && v.data() + v.size() <= b + limit;
}

// RFC 9110 tchar.
inline bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace fuzz
