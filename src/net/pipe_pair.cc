#include "net/pipe_pair.h"

#include <fcntl.h>
#include <unistd.h>

namespace gh::net {

PipePair PipeCache::take() {
  if (!spare_.empty()) {
    PipePair p = spare_.back();
    spare_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  ::fcntl(fds[1], F_SETPIPE_SZ, int(kPipeBytes));   // refused: a smaller pipe, still correct
  return {fds[0], fds[1]};
}

void PipeCache::give(PipePair p, bool empty) {
  if (p.r < 0) return;
  if (empty && spare_.size() < kMaxSpare) {
    spare_.push_back(p);
    return;
  }
  ::close(p.r);
  ::close(p.w);
}

PipeCache::~PipeCache() {
  for (PipePair p : spare_) {
    ::close(p.r);
    ::close(p.w);
  }
}

}  // namespace gh::net
