// Waiting, bounded, for the first bytes of a connection without consuming
// them: the PROXY protocol header (server.proxy_protocol) and the TLS
// ClientHello (streams with `sni`) are judged here before anyone reads, so
// whatever is not taken stays on the socket for HTTP, TLS or a relay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "net/asio.h"

namespace gh::net {

// What a judge says about all the bytes peeked so far.
enum class PeekVerdict {
  complete,    // enough to act on: stop peeking
  need_more,   // a valid prefix so far: wait for more bytes
  invalid,     // not what was expected: stop peeking
};

// How peek_prefix() ended; `buf` holds the bytes peeked in every case.
enum class PeekResult {
  complete,   // the judge said complete
  invalid,    // the judge said invalid
  limit,      // max_bytes peeked and the judge still wanted more
  eof,        // the peer closed (or half-closed) before a verdict
  error,      // the socket failed (reset, ...)
  timeout,    // deadline_ms passed before a verdict
};

const char* to_string(PeekResult r);

// Peeks (recv with MSG_PEEK) at up to `max_bytes` of what `s` has received
// and asks `judge` about them each time more have arrived; nothing is taken
// off the socket. Returns when the judge says complete or invalid, when
// `max_bytes` are there without a verdict (limit), on EOF or error, or when
// now_ms() reaches `deadline_ms` (timeout; milliseconds on now_ms()'s
// monotonic clock). On return `buf` holds exactly the bytes peeked (at most
// `max_bytes`): a caller that wants them consumed reads them afterwards.
//
// When everything is there at once (the common case: a header or a
// ClientHello in the first segment) this costs one recv and no timer.
// Otherwise it waits for readiness, bounded by the deadline. Peeked bytes
// stay readable, so after a partial prefix plain readiness would report the
// same bytes again (Asio re-arms the descriptor with EPOLL_CTL_MOD before
// each wait, which reports the current level): SO_RCVLOWAT is raised to one
// byte past what was seen, so only new bytes (or FIN, or an error) wake the
// wait, and a short timer (kPeekPollMs) bounds every wait as well, so a
// missed wakeup costs that long and never a hang. SO_RCVLOWAT is put back
// to 1 before returning. `s` must have no other operation pending.
awaitable<PeekResult> peek_prefix(Socket& s, size_t max_bytes, int64_t deadline_ms,
                                  const std::function<PeekVerdict(std::string_view)>& judge,
                                  std::string& buf);

// Longest single wait once part of a prefix is in (ms): how late a missed
// wakeup can make us, and the poll interval if SO_RCVLOWAT is refused.
inline constexpr int64_t kPeekPollMs = 40;

}  // namespace gh::net
