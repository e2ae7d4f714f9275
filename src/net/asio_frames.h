// Routes Asio's coroutine frames (boost::asio::awaitable) to
// core::frame_allocate: a per-thread cache by size class that also keeps
// the frames larger than the 1,020 bytes Asio's own recycling takes
// (core/frame_cache.h says what that costs without it).
//
// Asio allocates a frame through thread_info_base::allocate with the
// awaitable_frame_tag purpose; these are explicit specializations of that
// member template for that tag. An explicit specialization must be seen
// before any use, in every translation unit, or one unit could allocate a
// frame with Asio's allocator that another frees into our cache: so
// CMakeLists.txt passes this header to the compiler with -include for every
// C++ source. Written for Boost 1.81 (Debian 12), whose thread_info_base
// has this member template.
#pragma once

#include <cstddef>
#include <new>

#include <boost/asio/detail/thread_info_base.hpp>

#include "core/frame_cache.h"

namespace boost::asio::detail {

template <>
inline void* thread_info_base::allocate<thread_info_base::awaitable_frame_tag>(
    thread_info_base::awaitable_frame_tag, thread_info_base*, std::size_t size,
    std::size_t align) {
  // Frames ask for the default alignment (BOOST_ASIO_DEFAULT_ALIGN, 16),
  // which malloc's blocks have.
  if (align > alignof(std::max_align_t)) throw std::bad_alloc();
  return gh::core::frame_allocate(size);
}

template <>
inline void thread_info_base::deallocate<thread_info_base::awaitable_frame_tag>(
    thread_info_base::awaitable_frame_tag, thread_info_base*, void* pointer, std::size_t size) {
  gh::core::frame_deallocate(pointer, size);
}

}  // namespace boost::asio::detail
