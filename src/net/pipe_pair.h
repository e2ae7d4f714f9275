// Pipes for splice(2), kept per thread between uses. A pipe pair costs four
// syscalls to make and drop (pipe2, F_SETPIPE_SZ, two close), so an empty
// one goes back to a small cache instead. Shared by whatever splices
// socket -> pipe -> socket (stream relays; HTTP bodies may too).
// Not thread-safe: one cache per worker thread.
#pragma once

#include <cstddef>
#include <vector>

namespace gh::net {

// Both ends non-blocking and close-on-exec; r < 0: none (see PipeCache::take).
struct PipePair {
  int r = -1;
  int w = -1;
};

class PipeCache {
 public:
  // Asked of F_SETPIPE_SZ for a new pipe: 256 KiB instead of the default
  // 64 moves a quarter as many splice calls per GiB (measured: 2,083 instead
  // of 8,203 for 256 MiB, as HAProxy with tune.pipesize 262144). The pages
  // are only taken while bytes sit in the pipe. Refused (an unprivileged
  // user past fs.pipe-user-pages-soft): the pipe keeps its size and simply
  // moves less per call.
  static constexpr size_t kPipeBytes = 256 * 1024;
  // Empty pipes kept at most: enough for the connections moving bytes at
  // one moment on a worker, without keeping a burst's pipes forever.
  static constexpr size_t kMaxSpare = 16;

  PipeCache() = default;
  PipeCache(const PipeCache&) = delete;
  PipeCache& operator=(const PipeCache&) = delete;
  ~PipeCache();

  // An empty pipe: a spare one, or a new one. r < 0 when none could be made
  // (EMFILE, ENFILE): the caller copies through user space instead.
  PipePair take();
  // Gives `p` back. `empty` false (bytes left in it after an error) closes
  // it, as does a full cache; r < 0 is ignored.
  void give(PipePair p, bool empty);
  size_t spare() const { return spare_.size(); }

 private:
  std::vector<PipePair> spare_;
};

}  // namespace gh::net
