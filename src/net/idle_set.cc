#include "net/idle_set.h"

#include <unistd.h>

#include <system_error>

#include "net/adopt.h"

namespace gh::net {

static int new_epoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}

IdleSet::IdleSet(asio::io_context& ctx, Wake on_wake)
    : ctx_(ctx), on_wake_(std::move(on_wake)), epfd_(new_epoll()), watch_(ctx.get_executor()) {
  error_code ec;
  watch_.assign(epfd_, ec);
  if (ec) {
    ::close(epfd_);
    throw std::system_error(ec.value(), std::generic_category(), "watching the idle set");
  }
  arm();
}

IdleSet::~IdleSet() {
  close_all();
  error_code ec;
  watch_.close(ec);   // closes epfd_
}

uint32_t IdleSet::take_slot() {
  if (free_ != kNone) {
    uint32_t i = free_;
    free_ = at(i).next_free;
    return i;
  }
  if (used_ % kChunk == 0 && used_ / kChunk == chunks_.size())
    chunks_.push_back(std::make_unique<Slot[]>(kChunk));
  return used_++;
}

void IdleSet::unuse_slot(uint32_t i) {
  at(i).next_free = free_;
  free_ = i;
}

void IdleSet::free_slot(uint32_t i) {
  Slot& s = at(i);
  s.fd = -1;
  s.conn = IdleConn{};   // releases the connection slot
  unuse_slot(i);
  --held_;
}

void IdleSet::close_slot(uint32_t i) {
  ::close(at(i).fd);     // also leaves the epoll set
  free_slot(i);
}

bool IdleSet::hold(Socket& s, IdleConn&& c) {
  if (!s.is_open()) return false;
  uint32_t i = take_slot();
  Slot& slot = at(i);
  error_code ec;
  int fd = s.release(ec);   // leaves Asio's reactor; the fd stays open
  if (ec) {
    unuse_slot(i);
    return false;
  }
  epoll_event ev{};
  // Level-triggered: bytes that arrived before the add are reported at once.
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = (uint64_t(i) << 32) | uint32_t(fd);
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    // Give the socket back to the caller unchanged.
    if (!adopt_nonblocking(s, fd, c.v6, ec)) ::close(fd);
    unuse_slot(i);
    return false;
  }
  slot.fd = fd;
  slot.conn = std::move(c);
  slot.conn.since_ms = now_ms();
  ++held_;
  return true;
}

void IdleSet::arm() {
  watch_.async_wait(asio::posix::descriptor_base::wait_read, [this](error_code ec) {
    if (ec) return;   // closed: the set is going away
    on_ready();
    arm();
  });
}

void IdleSet::on_ready() {
  // Asio watches epfd_ edge-triggered: drain every ready entry before
  // waiting again, or a wake-up could be lost.
  std::array<epoll_event, 64> evs;
  for (;;) {
    int n = ::epoll_wait(epfd_, evs.data(), int(evs.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (int k = 0; k < n; ++k) {
      uint32_t i = uint32_t(evs[k].data.u64 >> 32);
      int fd = int(uint32_t(evs[k].data.u64));
      if (i >= used_ || at(i).fd != fd) continue;   // closed meanwhile
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      IdleConn c = std::move(at(i).conn);
      free_slot(i);
      Socket s(ctx_.get_executor());
      error_code ec;
      if (!adopt_nonblocking(s, fd, c.v6, ec)) {
        ::close(fd);
        continue;   // the slot in c is released here
      }
      on_wake_(std::move(s), std::move(c));
    }
    if (n < int(evs.size())) return;
  }
}

void IdleSet::expire(int64_t now_ms) {
  for (uint32_t i = 0; i < used_; ++i) {
    Slot& s = at(i);
    if (s.fd >= 0 && s.conn.expire_at_ms != 0 && s.conn.expire_at_ms <= now_ms) close_slot(i);
  }
}

void IdleSet::close_all() {
  for (uint32_t i = 0; i < used_; ++i)
    if (at(i).fd >= 0) close_slot(i);
}

}  // namespace gh::net
