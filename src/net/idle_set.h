// Long-idle client connections held outside Asio. An idle keep-alive
// connection inside Asio costs a per-descriptor reactor state and a pending
// wait operation (several hundred bytes with the allocator's rounding); here
// it costs one 80-byte slot in a dense table plus the kernel's epoll entry
// (plus, for TLS, the SSL object the slot keeps: OpenSSL's state of the
// connection, which cannot be put aside; its buffers are released).
// The fds sit in a private epoll set (level-triggered, one-shot) whose own
// fd is watched by the worker's io_context, so no thread is added.
//
// Moving a connection in or out costs a few syscalls (epoll_ctl on both
// sets), so only connections that have already been idle for a while should
// come here: see proxy/park.h.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/cidr.h"
#include "net/asio.h"
#include "net/server.h"
#include "net/tls_io.h"

namespace gh::net {

// What the layer above needs to resume a connection: who the client is, the
// listener port, when to give up on it, and its place in the connection count.
struct IdleConn {
  core::Ip16 ip{};          // v4 as v4-mapped
  core::Ip16 local_ip{};    // see local_from_header
  uint16_t port = 0;
  uint16_t local_port = 0;
  bool local_from_header = false;   // local_ip and local_port are a PROXY header's destination
  bool v6 = false;          // the socket's family (a v6 listener may carry v4 clients)
  bool served = false;      // for the layer above: it has served a request before
  uint8_t nodelay_pending = 0;  // Stream::nodelay_pending() when it came in
  int64_t expire_at_ms = 0; // closed by expire() at this time; 0: never
  int64_t since_ms = 0;     // when it came in (set by hold())
  ConnectionSlot slot;
  SslHandle ssl;            // a TLS connection's state (net/tls_io.h); null for plain TCP
};

class IdleSet {
 public:
  // Called on the worker thread when a held connection becomes readable (a
  // request byte, a FIN or an error): the socket is back in Asio.
  using Wake = std::function<void(Socket, IdleConn)>;

  // Throws std::system_error if the kernel refuses an epoll instance.
  IdleSet(asio::io_context& ctx, Wake on_wake);
  ~IdleSet();
  IdleSet(const IdleSet&) = delete;
  IdleSet& operator=(const IdleSet&) = delete;

  // Takes the socket out of Asio and holds it. The socket must have no
  // pending operations. Refuses (returns false, socket and `c` unchanged) a
  // closed socket or one the kernel will not add to the set; the caller keeps it.
  bool hold(Socket& s, IdleConn&& c);

  // Closes every held connection whose deadline is at or before `now_ms`.
  void expire(int64_t now_ms);
  // Closes every held connection (draining).
  void close_all();
  size_t size() const { return held_; }

 private:
  struct Slot {
    IdleConn conn;
    int fd = -1;              // -1: free
    uint32_t next_free = 0;
  };
  static constexpr uint32_t kChunk = 512;   // slots per chunk (40 KiB), never moved
  static constexpr uint32_t kNone = ~0u;

  Slot& at(uint32_t i) { return chunks_[i / kChunk][i % kChunk]; }
  uint32_t take_slot();
  void unuse_slot(uint32_t i);   // back on the free list, never held
  void free_slot(uint32_t i);    // a held one: closes nothing, releases its slot
  void close_slot(uint32_t i);
  void arm();
  void on_ready();

  asio::io_context& ctx_;
  Wake on_wake_;
  int epfd_ = -1;
  asio::posix::basic_stream_descriptor<asio::io_context::executor_type> watch_;
  std::vector<std::unique_ptr<Slot[]>> chunks_;
  uint32_t used_ = 0;         // slots ever handed out (the high-water mark)
  uint32_t free_ = kNone;     // free list through Slot::next_free
  size_t held_ = 0;
};

}  // namespace gh::net
