// Every key the config file knows, per section. One table, so unknown-key
// errors can say where a misplaced key belongs.
#pragma once

#include <span>
#include <string_view>

namespace gh::config::keys {

inline constexpr std::string_view kTop[] = {"server", "ssl", "admin", "redis", "streams"};
// Policy keys are valid both under server (defaults) and in a route.
#define GH_POLICY_KEYS \
  "server_header", "obfuscate", "headers", "error_pages", "intercept_errors", "access", "basic_auth", \
      "compress", "cache", "rate_limit", "forward_auth", "jwt", "waf"
inline constexpr std::string_view kServer[] = {
    "host",     "port",       "workers",           "trusted_proxies", "forwarded",
    "timeouts", "limits",     "access_log",        "access_log_format", "reverse_proxy",
    "http2",    "traceparent",  "proxy_protocol", GH_POLICY_KEYS};
inline constexpr std::string_view kTimeouts[] = {
    "client_header",     "client_body", "keepalive",     "connect",
    "upstream_response", "tunnel_idle", "shutdown_drain"};
inline constexpr std::string_view kLimits[] = {"max_header_bytes", "max_body_bytes",
                                               "max_connections", "request_buffer",
                                               "request_body_min_rate",
                                               "h2_max_concurrent_streams"};
inline constexpr std::string_view kRoute[] = {
    "path",      "host",    "port",         "ssl",    "websocket", "domains",
    "strip_prefix", "preserve_host", "backends", "balance", "retries", "health_check",
    "tls",       "redirect", "upstream_protocol", GH_POLICY_KEYS};
inline constexpr std::string_view kPolicies[] = {GH_POLICY_KEYS};
#undef GH_POLICY_KEYS
inline constexpr std::string_view kHeaders[] = {"request", "response"};
inline constexpr std::string_view kFieldRules[] = {"set", "add", "remove"};
inline constexpr std::string_view kAccess[] = {"allow", "deny"};
inline constexpr std::string_view kBasicAuth[] = {"realm", "users_file"};
inline constexpr std::string_view kCompress[] = {"algorithms", "min_size", "types"};
inline constexpr std::string_view kCache[] = {"max_size", "max_object"};
inline constexpr std::string_view kRateLimit[] = {"rate", "burst", "key", "store", "fail"};
inline constexpr std::string_view kRedis[] = {"address", "timeout", "password_file", "db"};
inline constexpr std::string_view kForwardAuth[] = {"url", "copy_headers", "timeout"};
inline constexpr std::string_view kJwt[] = {"jwks_file", "jwks_url", "issuer", "audiences",
                                            "claims_to_headers", "clock_skew", "jwks_refresh"};
inline constexpr std::string_view kWaf[] = {"mode", "rules", "paranoia_level", "body_limit"};
inline constexpr std::string_view kBackend[] = {"address", "weight", "backup"};
inline constexpr std::string_view kHealthCheck[] = {"path",    "interval",  "timeout",
                                                    "healthy", "unhealthy", "expect_status"};
inline constexpr std::string_view kUpstreamTls[] = {"verify", "ca_file", "sni", "cert_file",
                                                    "key_file"};
inline constexpr std::string_view kSsl[] = {"enabled",      "port",          "cert_file", "key_file",
                                            "certificates", "redirect_http", "hsts",
                                            "ticket_key_file"};
inline constexpr std::string_view kCertPair[] = {"cert_file", "key_file"};
inline constexpr std::string_view kAdmin[] = {"enabled", "host", "port", "token_file"};
inline constexpr std::string_view kStream[] = {"listen",       "sni",            "backends", "balance",
                                               "health_check", "proxy_protocol", "timeouts"};
inline constexpr std::string_view kStreamTimeouts[] = {"connect", "idle"};

// A section as error messages name it ("server.timeouts", "route").
struct Section {
  std::string_view name;
  std::span<const std::string_view> keys;
};

inline constexpr Section kSections[] = {
    {"top level", kTop},
    {"server", kServer},
    {"server.timeouts", kTimeouts},
    {"server.limits", kLimits},
    {"route", kRoute},
    {"backend", kBackend},
    {"health_check", kHealthCheck},
    {"tls", kUpstreamTls},
    {"ssl", kSsl},
    {"ssl.certificates entry", kCertPair},
    {"admin", kAdmin},
    {"stream", kStream},
    {"streams.timeouts", kStreamTimeouts},
    {"headers", kHeaders},
    {"headers.request / headers.response", kFieldRules},
    {"access", kAccess},
    {"basic_auth", kBasicAuth},
    {"compress", kCompress},
    {"cache", kCache},
    {"rate_limit", kRateLimit},
    {"redis", kRedis},
    {"forward_auth", kForwardAuth},
    {"jwt", kJwt},
    {"waf", kWaf},
};

}  // namespace gh::config::keys
