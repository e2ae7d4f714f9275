// Route path prefixes and health-check request paths.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::config {

// Accepts an absolute path prefix made of RFC 3986 path characters
// (unreserved, sub-delims, ':', '@', '%XX'); returns it without a trailing
// '/' ("/api/" -> "/api"; "/" stays "/"). Refuses empty text, a missing
// leading '/', '?', '#', spaces and control or non-ASCII bytes, other
// characters outside the path set, bad '%' escapes, empty segments ("//")
// and "." or ".." segments (also encoded, "%2e"), because the prefix would
// match differently from what it looks like. The result is in
// http::normalize_path form, as request paths are when they are routed:
// escapes of unreserved characters decoded, others upper-cased. Sets `why`
// on refusal.
std::optional<std::string> normalize_route_path(std::string_view text, std::string& why);

// Accepts a request target for health checks: '/' then path characters and
// an optional query ("/healthz?full=1"). Refuses '#', spaces, control and
// non-ASCII bytes, bad '%' escapes; sets `why`.
bool valid_check_path(std::string_view text, std::string& why);

}  // namespace gh::config
