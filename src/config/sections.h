// Loaders for each part of the config file. Internal to src/config; each
// reads one YAML subtree into its struct, reporting problems through Ctx and
// keeping defaults where a value is bad so that later errors are still found.
#pragma once

#include "config/config.h"
#include "config/yaml_walk.h"

namespace gh::config::detail {

// server: listener, limits, timeouts and the reverse_proxy routes (duplicate
// routes are reported here).
void load_server(Ctx& ctx, const Value& v, Server& out);

// One reverse_proxy entry. `dup_mark` is set to where a duplicate of this
// route should be reported (its path, or the entry itself), and left empty
// when the entry or its path was broken: its path is then only a stand-in.
Route load_route(Ctx& ctx, const Value& v, std::optional<YAML::Mark>& dup_mark);

// A `backends` list (of a route or a stream) into `out`: each entry's
// address (`default_port` when it has none; 0: a port is required), weight
// and backup; duplicates are errors ("listed twice in this <owner>"), and
// only backups draw a warning.
void load_backends(Ctx& ctx, const Entry& backends, uint16_t default_port, const char* owner,
                   std::vector<BackendConf>& out);

// `balance`: round_robin | least_conn | ip_hash | random.
std::optional<Balance> read_balance(Ctx& ctx, const Value& v);

// A `health_check` block. `tcp_only` (streams): the check is a TCP connect,
// so `path` and `expect_status` are errors.
void load_health_check(Ctx& ctx, const Value& v, HealthCheck& hc, bool tcp_only);

// The top-level `streams` list; checks listen ports against server, ssl and
// admin (loaded before it) and `sni` entries against ssl.enabled.
void load_streams(Ctx& ctx, const Value& v, const Config& cfg, std::vector<StreamRoute>& out);

// A policy key (keys::kPolicies) of server or a route into `out`; false when
// `e` is not a policy key. Files the policies name (error pages, htpasswd)
// are read here, so a reload re-reads them and a bad one fails the load.
bool load_policy(Ctx& ctx, const Entry& e, Policies& out);

// A field name a policy sets or removes (headers, jwt.claims_to_headers): a
// token (RFC 9110 5.1), not a hop-by-hop, framing or Host field. Reported at `at`.
std::optional<std::string> read_field_name(Ctx& ctx, const Value& v, YAML::Mark at);

// `jwt` (jwt_section.cc): reads and checks the jwks_file's keys too.
void load_jwt(Ctx& ctx, const Value& v, Jwt& out);

// The front TLS block; checks its ports against the already loaded `server`.
void load_ssl(Ctx& ctx, const Value& v, const Server& server, Ssl& out);

// The admin listener; checks its port against the plain and TLS listeners.
void load_admin(Ctx& ctx, const Value& v, const Server& server, const Ssl& ssl, Admin& out);

// The top-level `redis` section (the shared store of `rate_limit`).
void load_redis(Ctx& ctx, const Value& v, RateLimit::Redis& out);

// After every section: each `store: redis` gets the redis section's
// settings, or an error at its `store` value when there is none.
void finish_redis(Ctx& ctx, Config& cfg);

// After streams: an explicit ssl.acme name an `sni` stream matches is an
// error (its hellos are relayed untouched, so the certificate could never
// serve, nor tls-alpn-01 be answered); default names such a stream matches
// are left out, and none left is an error.
void finish_acme(Ctx& ctx, Config& cfg);

}  // namespace gh::config::detail
