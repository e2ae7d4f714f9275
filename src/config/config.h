// Plain structs for a loaded, validated configuration. No YAML types leak
// out of src/config: everything downstream sees only these values.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cidr.h"

namespace gh::jose {
struct KeySet;   // jose/jwk.h
}

namespace gh::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// Where a value came from in the YAML file (1-based), for later diagnostics.
struct Mark {
  int line = 0;
  int col = 0;
};

struct Timeouts {
  Duration client_header = 10s;
  Duration client_body = 60s;
  Duration keepalive = 75s;
  Duration connect = 5s;
  Duration upstream_response = 60s;
  Duration tunnel_idle = 1h;
  Duration shutdown_drain = 30s;
};

struct Limits {
  uint64_t max_header_bytes = 32 * 1024;
  uint64_t max_body_bytes = 0;  // 0 = unlimited
  uint64_t max_connections = 20000;
  // Request bodies up to this many bytes are received completely before a
  // backend is chosen, so a slow client never ties up a backend for them
  // (and the body can be replayed on a retry). 0: stream every body at once.
  uint64_t request_buffer = 1024 * 1024;
  // A body streamed to a backend (larger than request_buffer) must arrive at
  // least this fast, in bytes per second (0: no minimum), or the client gets
  // 408: its slowness would otherwise hold the backend.
  uint64_t request_body_min_rate = 1024;
  // SETTINGS_MAX_CONCURRENT_STREAMS offered to HTTP/2 clients (RFC 9113 5.1.2).
  uint32_t h2_max_concurrent_streams = 128;
};

enum class Forwarded { x_forwarded, rfc7239, both, none };
// server.traceparent (W3C Trace Context): pass the client's traceparent on as
// it is, or also start a trace for a request that came without a valid one.
enum class TraceparentMode { pass, start };
enum class Balance { round_robin, least_conn, ip_hash, random };
enum class AccessLogFormat { json, combined };
enum class Redirect { none, https };
enum class UpstreamProtocol { http1, http2 };

struct BackendConf {
  std::string host;        // name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  unsigned weight = 1;     // 1..1000
  bool backup = false;
  Mark mark;
};

struct HealthCheck {
  bool enabled = false;    // true when the route has a health_check block
  std::string path = "/";
  Duration interval = 5s;
  Duration timeout = 2s;
  unsigned healthy = 2;
  unsigned unhealthy = 3;
  unsigned expect_min = 200;  // expected status range, inclusive
  unsigned expect_max = 399;
};

struct UpstreamTls {
  bool verify = true;
  std::string ca_file;     // empty: system store
  std::string sni;         // empty: backend host (when it is a name)
  std::string cert_file;   // client certificate (mTLS)
  std::string key_file;
};

// Policies (CONTRACT "Policies"): each may be set under `server` (the
// default for every route) or in a route, where it replaces the server's
// value whole (never merged). Unset (nullopt) means "not given here".

// Field rules for one direction. Names are stored lower-case; hop-by-hop and
// framing fields are refused at load, so no rule can break message framing.
struct FieldRules {
  std::vector<std::pair<std::string, std::string>> set;   // replaces every field of the name
  std::vector<std::pair<std::string, std::string>> add;   // appended
  std::vector<std::string> remove;                        // every field of the name dropped
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct HeaderRules {
  FieldRules request;    // on the upstream request
  FieldRules response;   // on every response the client gets (proxied or our own)
};

// A page served instead of an error's body, read at load (and reload).
struct ErrorPage {
  unsigned lo = 0, hi = 0;       // status range: 502-502, or 500-599 for "5xx"
  std::string file;              // absolute path, for messages
  std::string content_type;      // from the file's extension
  std::string body;              // the file's bytes (at most kMaxErrorPage)
};
inline constexpr uint64_t kMaxErrorPage = 1024 * 1024;

struct AccessRules {
  std::vector<core::Cidr> allow;   // non-empty: only these addresses pass
  std::vector<core::Cidr> deny;    // refused, whatever allow says
};

// One htpasswd line that gatehouse can verify: bcrypt or SHA-crypt.
struct HtpasswdUser {
  std::string user;
  std::string hash;   // "$2y$...", "$5$...", "$6$..."
};

struct BasicAuth {
  std::string realm = "Restricted";
  std::string users_file;              // absolute path
  std::vector<HtpasswdUser> users;     // read at load and reload
};

// `jwt` (CONTRACT "Policies", docs/jwt.md): bearer tokens verified against
// a JWK Set from `jwks_file` (read at load and reload) or `jwks_url`
// (fetched and refreshed by the policy).
struct Jwt {
  std::string jwks_file;                          // absolute path, or ""
  std::shared_ptr<const jose::KeySet> keys;       // jwks_file's keys
  std::string jwks_url;                           // http(s) URL, or ""
  std::string issuer;                             // "" = any "iss"
  std::vector<std::string> audiences;             // empty = any "aud"
  std::vector<std::pair<std::string, std::string>> claims_to_headers;   // claim -> field name
  Duration clock_skew = 30s;                      // leeway for exp, nbf, iat
  Duration jwks_refresh = 5min;                   // jwks_url: refetched this often (at most)
};

// `rate_limit` (CONTRACT "Policies"): a token bucket per key. `count`
// requests per `period_s` seconds refill it; it holds at most `burst`.
// forward_auth: each request is first asked about at an auth service
// (Authelia, oauth2-proxy ...) with `GET url`; see docs/sso.md.
struct ForwardAuth {
  std::string url;                        // as written: http://host[:port]/path[?query]
  bool tls = false;                       // https://
  std::string host;                       // name or IP literal (IPv6 without brackets)
  uint16_t port = 80;                     // 80 / 443 unless the url names one
  std::string target;                     // origin-form path and query; "/" when the url has none
  std::string host_header;                // Host sent: the url's authority as written
  std::vector<std::string> copy_headers;  // field names as written, each once
  Duration timeout = std::chrono::seconds(5);   // connect + response, at least 1 ms
};
struct RateLimit {
  enum class Key : uint8_t { client_ip, header, route };
  enum class Store : uint8_t { local, redis };
  uint64_t count = 0;          // N of "N/s", "N/m", "N/h"; above 0
  uint32_t period_s = 1;       // 1, 60 or 3600
  uint64_t burst = 0;          // bucket size; 0 in the file means `count`
  Key key = Key::client_ip;
  std::string header;          // key: header:NAME (as written)
  Store store = Store::local;
  // What a decision does when the store cannot answer (Redis down or slower
  // than redis.timeout): open lets the request through, closed answers 503.
  enum class Fail : uint8_t { open, closed };
  Fail fail = Fail::open;
  // store: redis: the top-level `redis` section, copied in at load.
  struct Redis {
    std::string host;                 // IP literal or DNS name (resolved when connecting)
    uint16_t port = 6379;
    Duration timeout = 100ms;         // per decision; past it the store counts as failed
    std::string password;             // from password_file; empty: no AUTH
    uint32_t db = 0;                  // SELECTed when not 0
  } redis;
  // Which route the limit belongs to ("domains|path"), set when the runtime
  // is built: limits of different routes never share a Redis key.
  std::string scope;
};

// `cache` (CONTRACT "Policies", docs/caching.md): an RFC 9111 shared cache
// in memory for the route's responses.
struct Cache {
  bool enabled = false;
  uint64_t max_size = 256ull << 20;    // bytes the route's store holds
  uint64_t max_object = 8ull << 20;    // a larger response streams through, not stored
};

// `compress` (CONTRACT "Policies"): responses compressed on the fly in a
// coding the client accepts (RFC 9110 8.4, 12.5.3).
struct Compress {
  bool enabled = false;
  // Content-coding tokens in the server's order of preference (ties in the
  // client's q-values go to the first): "zstd", "br", "gzip".
  std::vector<std::string> algorithms = {"zstd", "br", "gzip"};
  // Responses whose length is known and smaller (bytes) pass as they are.
  uint64_t min_size = 1024;
  // Media types compressed (lower case, without parameters); "text/*" style
  // wildcards allowed. The default list is kDefaultCompressTypes.
  std::vector<std::string> types;
};
// Text-like types that compress well; never images, audio, video or
// archives, which are compressed already.
inline constexpr std::string_view kDefaultCompressTypes[] = {
    "text/html", "text/css", "text/plain", "text/xml", "text/javascript", "text/csv",
    "text/markdown", "application/javascript", "application/json", "application/xml",
    "application/xhtml+xml", "application/rss+xml", "application/atom+xml",
    "application/ld+json", "application/manifest+json", "application/wasm",
    "application/x-javascript", "application/graphql-response+json", "image/svg+xml",
    "image/x-icon", "font/ttf", "font/otf"};

// `waf` (CONTRACT "Policies", docs/waf.md): requests checked by ModSecurity
// rules (libmodsecurity3) before they go upstream: the OWASP CRS or rule
// files of the user's. The rules are compiled at load (config/waf_rules.h).
struct WafRules;
struct Waf {
  enum class Mode : uint8_t { block, detect, off };
  Mode mode = Mode::block;             // block: 403; detect: only logged; off: not run
  bool crs = true;                     // the system's modsecurity-crs is loaded (rules: crs, or "crs" listed)
  std::vector<std::string> rule_files; // rules: [files], absolute paths, in order
  size_t crs_at = 0;                   // with crs: the CRS goes before rule_files[crs_at] (exclusions
                                       // that set CRS variables come before it, rule removals after)
  unsigned paranoia_level = 1;         // CRS paranoia level, 1..4
  uint64_t body_limit = 128 * 1024;    // request body bytes inspected (a larger body: its first bytes)
  std::shared_ptr<const WafRules> rules;   // compiled; shared by routes with the same rules (null: off)
};

struct Policies {
  std::optional<std::string> server_header;   // "" = no Server field
  std::optional<bool> obfuscate;
  std::optional<HeaderRules> headers;
  std::optional<std::vector<ErrorPage>> error_pages;
  std::optional<bool> intercept_errors;
  std::optional<AccessRules> access;
  std::optional<BasicAuth> basic_auth;
  std::optional<Compress> compress;
  std::optional<Cache> cache;
  std::optional<RateLimit> rate_limit;
  std::optional<ForwardAuth> forward_auth;
  std::optional<Jwt> jwt;
  std::optional<Waf> waf;
};

// `route` over `server`, key by key: what one route runs with.
Policies effective_policies(const Policies& server, const Policies& route);

struct Route {
  std::string path = "/";           // normalized: starts with '/', no trailing '/' unless "/"
  std::vector<std::string> domains; // lower-case; "*.example.com" wildcards; empty = any
  bool ssl = false;                 // TLS to the backends
  bool websocket = false;           // legacy PyServe key, no effect
  bool strip_prefix = false;
  bool preserve_host = true;
  // How requests reach the backends: HTTP/1.1, or HTTP/2 (h2 over TLS with
  // `ssl`, else h2c with prior knowledge), which gRPC needs.
  UpstreamProtocol upstream_protocol = UpstreamProtocol::http1;
  std::vector<BackendConf> backends; // never empty after loading (host/port folded in)
  Balance balance = Balance::round_robin;
  unsigned retries = 1;
  HealthCheck health_check;
  UpstreamTls tls;
  Redirect redirect = Redirect::none;
  Policies policies;
  Mark mark;
};

struct Server {
  std::string host = "0.0.0.0";
  // proxy_protocol (CONTRACT "L4 streams, PROXY protocol"): every connection
  // from trusted_proxies must start with a PROXY v1/v2 header, whose source
  // address is then the client; connections from any other peer are refused.
  bool proxy_protocol = false;
  uint16_t port = 8080;
  unsigned workers = 0;             // 0 = auto (one per CPU)
  bool http2 = true;                // h2 in ALPN on TLS listeners, h2c prior knowledge on plain ones
  std::vector<core::Cidr> trusted_proxies;
  Forwarded forwarded = Forwarded::x_forwarded;
  TraceparentMode traceparent = TraceparentMode::pass;
  Timeouts timeouts;
  Limits limits;
  std::string access_log = "stdout"; // stdout | stderr | off | a file path
  AccessLogFormat access_log_format = AccessLogFormat::json;
  std::vector<Route> reverse_proxy;
  Policies policies;                // defaults for every route
};

struct CertPair {
  std::string cert_file;
  std::string key_file;
  Mark mark;
};

// `ssl.acme` (CONTRACT "L4 streams, PROXY protocol, ACME"): certificates
// obtained and renewed from an RFC 8555 CA.
struct Acme {
  std::string email;                // contact for the account; may be empty
  std::string directory;            // the CA's directory URL (https://)
  std::vector<std::string> domains; // lower-case names; default: every exact (non-wildcard)
                                    // name in routes' domains
  std::string storage;              // absolute directory: account key, certificates
  std::string ca_file;              // absolute path or empty: trust for the CA's own TLS
  Mark mark;
};

struct Ssl {
  bool enabled = false;
  std::optional<uint16_t> port;     // set: separate TLS listener; unset: server.port speaks TLS
  std::string cert_file;            // resolved relative to the config file's directory
  std::string key_file;
  std::vector<CertPair> certificates;
  bool redirect_http = false;
  Duration hsts = 0s;
  // Session-ticket keys shared by a fleet (absolute path, or empty: keys made
  // in memory and rotated by the process); reread on SIGHUP.
  std::string ticket_key_file;
  Mark ticket_key_file_mark;        // where ticket_key_file was given, for errors about its content
  std::optional<Acme> acme;
  Mark mark;
};

// What a stream sends its backend before the client's bytes.
enum class ProxyProtocolOut { none, v1, v2 };

// One `streams` entry (CONTRACT "L4 streams"): TCP proxying, no HTTP. Either
// its own listener (`listen`) or, with `sni`, TLS ClientHellos for these
// names on the TLS listener, relayed untouched (the TLS ends at the backend).
struct StreamRoute {
  std::string listen_host;           // with listen_port != 0: its own listener
  uint16_t listen_port = 0;
  std::vector<std::string> sni;      // lower-case names; "*.example.com" wildcards
  std::vector<BackendConf> backends; // never empty after loading
  Balance balance = Balance::round_robin;
  HealthCheck health_check;          // a TCP connect: `path` and `expect` unused
  ProxyProtocolOut proxy_protocol = ProxyProtocolOut::none;
  Duration connect_timeout = 5s;     // default: server.timeouts.connect
  Duration idle_timeout = 1h;        // no byte either way for this long ends it;
                                     // default: server.timeouts.tunnel_idle
  Mark mark;
};

struct Admin {
  bool enabled = false;
  std::string host = "127.0.0.1";   // loopback by default: the admin listener is for operators
  uint16_t port = 9901;
  // token_file: every admin endpoint but /healthz then needs
  // `Authorization: Bearer <token>`. The file is read at load (and so again
  // on every reload); `token` is its content with surrounding whitespace
  // trimmed. Both empty: no token asked for.
  std::string token_file;
  std::string token;
};

struct Config {
  std::string file;                 // path it was loaded from
  Server server;
  Ssl ssl;
  Admin admin;
  std::vector<StreamRoute> streams;
  std::optional<RateLimit::Redis> redis;   // the top-level `redis` section, when present
};

struct Error {
  std::string file;
  int line = 0;
  int col = 0;
  std::string message;
  bool warning = false;             // a combination that is unusual but has a meaning
  // "FILE:LINE:COL: message", or "FILE:LINE:COL: warning: message"
  std::string str() const;
};

struct LoadResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<Error> errors;
  // Unusual but meaningful settings (the config loads): the values are used
  // as written. Sorted by position, like errors.
  std::vector<Error> warnings;
};

// Loads and validates a config file. Never throws; every problem becomes an Error.
LoadResult load_file(const std::string& path);
// Same, from text; `name` is used as FILE in errors and as base for relative paths.
LoadResult load_string(const std::string& text, const std::string& name);

}  // namespace gh::config
