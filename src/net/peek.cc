#include "net/peek.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <variant>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "net/deadlines.h"

namespace gh::net {

const char* to_string(PeekResult r) {
  switch (r) {
    case PeekResult::complete: return "complete";
    case PeekResult::invalid: return "invalid";
    case PeekResult::limit: return "limit";
    case PeekResult::eof: return "eof";
    case PeekResult::error: return "error";
    case PeekResult::timeout: return "timeout";
  }
  return "?";
}

namespace {

// After a peek that found nothing new: did the peer close or the socket
// fail? (Peeked bytes keep a socket readable, so recv cannot say EOF while
// they are there; poll's RDHUP can.)
PeekResult closed_or(int fd, PeekResult otherwise) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return otherwise;
  if (p.revents & (POLLERR | POLLNVAL)) return PeekResult::error;
  if (p.revents & (POLLRDHUP | POLLHUP)) return PeekResult::eof;
  return otherwise;
}

// Where each peek lands: one per thread, grown to the largest max_bytes
// asked, never zero-filled (a std::string resized to max_bytes would write
// 32 KiB of zeros per ClientHello). Only used between a recv and the copy
// of what it returned, never across a wait.
char* peek_scratch(size_t n) {
  thread_local std::unique_ptr<char[]> buf;
  thread_local size_t size = 0;
  if (size < n) {
    buf.reset(new char[n]);
    size = n;
  }
  return buf.get();
}

bool set_lowat(int fd, int v) {
  return ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0;
}

}  // namespace

awaitable<PeekResult> peek_prefix(Socket& s, size_t max_bytes, int64_t deadline_ms,
                                  const std::function<PeekVerdict(std::string_view)>& judge,
                                  std::string& buf) {
  using namespace asio::experimental::awaitable_operators;
  const int fd = s.native_handle();
  size_t seen = 0;   // bytes the judge has seen (all of buf)
  int lowat = 1;     // SO_RCVLOWAT as set now
  PeekResult result = PeekResult::timeout;
  buf.clear();
  if (max_bytes == 0) co_return PeekResult::limit;
  for (;;) {
    char* scratch = peek_scratch(max_bytes);
    ssize_t n = ::recv(fd, scratch, max_bytes, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : 0;
    if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) {
      result = PeekResult::error;
      break;
    }
    if (n == 0) {   // nothing buffered and FIN: the peer is gone
      result = PeekResult::eof;
      break;
    }
    if (n > 0 && size_t(n) > seen) {
      seen = size_t(n);
      buf.assign(scratch, seen);
      const PeekVerdict v = judge(std::string_view(buf));
      if (v == PeekVerdict::complete) {
        result = PeekResult::complete;
        break;
      }
      if (v == PeekVerdict::invalid) {
        result = PeekResult::invalid;
        break;
      }
      if (seen >= max_bytes) {
        result = PeekResult::limit;
        break;
      }
    } else {
      if (seen > 0) {
        // Woken without new bytes: FIN or an error after a partial prefix,
        // or only the poll timer.
        const PeekResult r = closed_or(fd, PeekResult::timeout);
        if (r != PeekResult::timeout) {
          result = r;
          break;
        }
      }
    }
    const int64_t now = now_ms();
    if (now >= deadline_ms) {
      result = PeekResult::timeout;
      break;
    }
    int64_t wait_ms = deadline_ms - now;
    if (seen > 0) {
      // Only bytes past what was seen (or FIN/error) make the socket
      // readable now; the timer covers a kernel that ignores the option.
      const int want = int(std::min<size_t>(seen + 1, max_bytes));
      if (lowat != want && set_lowat(fd, want)) lowat = want;
      wait_ms = std::min(wait_ms, kPeekPollMs);
    }
    asio::steady_timer timer(s.get_executor());
    timer.expires_after(std::chrono::milliseconds(std::max<int64_t>(wait_ms, 1)));
    auto ready = s.async_wait(Socket::wait_read, nothrow);
    auto tick = timer.async_wait(nothrow);
    auto either = std::move(ready) || std::move(tick);
    auto which = co_await std::move(either);
    // The socket's wait aborted without our timer winning: someone
    // cancelled the connection (shutdown, drain); stop here.
    const bool aborted = which.index() == 0 &&
                         std::get<0>(std::get<0>(which)) == asio::error::operation_aborted;
    if (aborted || !s.is_open()) {
      result = PeekResult::error;
      break;
    }
  }
  if (lowat != 1 && s.is_open()) set_lowat(fd, 1);
  co_return result;
}

}  // namespace gh::net
