// Rules every front end (HTTP/1 session, HTTP/2 stream) applies to a new
// request before it is routed, in one place.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/exchange.h"
#include "proxy/worker_state.h"

namespace gh::proxy {

// The request id: the client's X-Request-ID when it is short (at most 200
// bytes) and plain (letters, digits, "-_.:+/="), so logs and backends never
// see injected junk; else 32 random hex digits. Written to `out`.
void pick_request_id(std::span<const http::Field> fields, WorkerState& ws, std::string& out);

// How many times the request already passed through a gatehouse: the
// "gatehouse" entries of its Via fields. At kMaxViaHops it is a loop.
unsigned via_hops(std::span<const http::Field> fields);
inline constexpr unsigned kMaxViaHops = 10;

// The https:// URL that a redirect to TLS names: the client's authority
// without its port, the TLS listener's port unless 443, then the path and
// query as sent ("/" for OPTIONS *).
std::string https_location(const config::Config& cfg, std::string_view authority,
                           std::string_view path, bool asterisk);

}  // namespace gh::proxy
