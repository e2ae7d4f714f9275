#include "net/asio_frames.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/frame_cache.h"

namespace asio = boost::asio;

namespace {

// A coroutine whose frame is larger than the 1,020 bytes Asio's own
// recycling keeps: it must come from (and go back to) core's frame cache.
asio::awaitable<int> big_frame(int seed) {
  std::array<char, 3000> scratch;
  std::memset(scratch.data(), seed, scratch.size());
  co_await asio::post(asio::use_awaitable);   // keeps scratch in the frame
  co_return scratch[seed % 3000] + scratch[2999];
}

asio::awaitable<void> run_many(int* sum) {
  for (int i = 0; i < 100; ++i) *sum += co_await big_frame(i);
}

}  // namespace

TEST(AsioFrames, AwaitableFramesGoThroughTheFrameCache) {
  gh::core::trim_frame_cache(0);
  asio::io_context io;
  int sum = 0;
  asio::co_spawn(io, run_many(&sum), asio::detached);
  io.run();
  EXPECT_EQ(sum, 2 * (99 * 100 / 2));
  // The big frame was freed 100 times and is cached once: one block of its
  // class (over 3,000 bytes) besides the smaller frames.
  EXPECT_GE(gh::core::frame_cache_bytes(), 3000u);
  gh::core::trim_frame_cache(0);
}
