// The PROXY protocol (HAProxy's "proxy-protocol.txt", versions 1 and 2): a
// header an L4 intermediary puts before a connection's first byte to say
// whom the connection came from. One place reads it (server.proxy_protocol,
// from trusted_proxies only) and one writes it (streams.proxy_protocol).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/asio.h"

namespace gh::net::proxy_protocol {

// Longest header either version can carry here: v1 is at most 107 bytes;
// v2 is 16 bytes plus a 16-bit length, but we refuse v2 headers longer than
// this (TLVs included), so a peer cannot make us buffer more.
inline constexpr size_t kMaxHeader = 536;

// What a header says about the connection.
struct Addresses {
  // True for v2 LOCAL and v1 UNKNOWN (health checks of the balancer itself,
  // or a family we do not carry): the connection's own addresses apply.
  bool local = false;
  tcp::endpoint source;        // the client (when !local)
  tcp::endpoint destination;   // the address the client connected to (when !local)
};

enum class Status { complete, need_more, invalid };

struct ParseResult {
  Status status = Status::need_more;
  size_t length = 0;       // complete: bytes the header took (the payload starts after)
  Addresses addresses;     // complete: what it carries
  std::string error;       // invalid: why, for the log (e.g. "v2: bad signature")
};

// Reads a v1 or v2 header at the start of `in` (which holds every byte
// received so far). need_more: a valid prefix, read more (never returned
// once kMaxHeader bytes are there); invalid: not a PROXY header, or a
// malformed one (v1: not "PROXY TCP4|TCP6|UNKNOWN ..." within 107 bytes with
// CRLF, bad address or port; v2: bad signature, version, command, a length
// over kMaxHeader or too short for its family). Never reads past `in`.
ParseResult parse(std::string_view in);

// The header a stream sends its backend before the client's bytes: v1 text
// ("PROXY TCP4 src dst sport dport\r\n") or v2 binary (PROXY command,
// TCP over IPv4/IPv6, no TLVs). IPv4-mapped IPv6 addresses are written as
// IPv4; when the two addresses' families differ both are written as IPv6.
std::string format_v1(const tcp::endpoint& source, const tcp::endpoint& destination);
std::string format_v2(const tcp::endpoint& source, const tcp::endpoint& destination);

}  // namespace gh::net::proxy_protocol
