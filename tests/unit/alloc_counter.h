// Counts this thread's allocations, so a test can show that a function
// allocates nothing (parsers and matchers that run for every request).
// Replaces the global operator new/delete of a test executable: include it
// from exactly one .cc of that executable; others declare
// `size_t test_allocations();`.
#pragma once

#include <cstdlib>
#include <new>

namespace {
thread_local size_t g_test_allocations = 0;
}
size_t test_allocations() { return g_test_allocations; }
// Compiled together with other sources (unity build), GCC sees these
// replacements inlined into callers of the standard operators and takes the
// malloc/free inside them for a mismatched new/delete pair; they match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_test_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  ++g_test_allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
