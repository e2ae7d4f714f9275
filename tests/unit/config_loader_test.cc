// Loader tests: every error has the right FILE:LINE:COL and says what is
// wrong; valid files give the documented values; PyServe's examples load as
// written; hostile input never throws or crashes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"

namespace fs = std::filesystem;
using namespace gh::config;
using namespace std::chrono_literals;

namespace {

// A fresh directory per test holding the config file and any files it names.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gh-config-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  // Writes `text` to `rel` (creating directories) and returns the absolute path.
  std::string write(const std::string& rel, const std::string& text = "x") const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string config_name() const { return (path_ / "gh.yaml").string(); }

 private:
  fs::path path_;
};

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const Error& e : r.errors) out += e.str() + "\n";
  return out;
}

// Loads `text` as if it were DIR/gh.yaml and expects it to be valid.
Config load_ok(const TempDir& dir, const std::string& text) {
  LoadResult r = load_string(text, dir.config_name());
  EXPECT_TRUE(r.errors.empty()) << all_errors(r) << "---\n" << text;
  EXPECT_TRUE(r.config.has_value());
  return r.config.value_or(Config{});
}

// ---------------------------------------------------------------------------
// Broken configs: exactly `count` errors, one of them at LINE:COL containing
// `fragment`.

struct BadCase {
  const char* yaml;
  int line;
  int col;
  const char* fragment;
  size_t count = 1;
};

const BadCase kBadCases[] = {
    // Top level.
    {"sever:\n  port: 1\n", 1, 1, "unknown key 'sever' at top level; did you mean 'server'?"},
    {"reverse_proxy: []\n", 1, 1, "unknown key 'reverse_proxy' at top level; it belongs in server"},
    {"timeouts: {}\n", 1, 1, "unknown key 'timeouts' at top level; it belongs in server"},
    {"listen: 80\n", 1, 1, "unknown key 'listen' at top level"},
    {"- a\n- b\n", 1, 1, "the file must be a map of settings, got a list"},
    {"just words\n", 1, 1, "the file must be a map of settings, got a single value"},
    {"server: [1]\n", 1, 9, "'server' must be a map of settings, got a list"},
    {"server: yes\n", 1, 9, "'server' must be a map of settings, got a single value"},
    {"server:\n  port: 1\nserver:\n  port: 2\n", 3, 1, "duplicate key 'server' in top level (first at line 1)"},
    {"? [a]\n: b\n", 1, 3, "a key in top level must be a name, got a list"},
    {"server: {}\n---\nserver: {}\n", 3, 1, "only one YAML document is allowed"},
    // YAML syntax: yaml-cpp's own message, at its mark.
    {"server:\n  port: [1,\n", 3, 1, "YAML syntax error: end of sequence flow not found"},
    {"server:\n\t port: 1\n", 2, 7, "YAML syntax error: illegal map value"},
    // yaml-cpp ends an unterminated quoted scalar at the end of the file.
    {"server: \"unterminated\n", 1, 9, "'server' must be a map of settings, got a single value"},
    {"a: *nothing\n", 1, 4, "YAML syntax error"},

    // server
    {"server:\n  prot: 8080\n", 2, 3, "unknown key 'prot' in server; did you mean 'port'?"},
    {"server:\n  Port: 8080\n", 2, 3, "unknown key 'Port' in server; did you mean 'port'?"},
    {"server:\n  port: abc\n", 2, 9, "'port' must be an integer from 1 to 65535, got 'abc'"},
    {"server:\n  port: 0\n", 2, 9, "'port' must be an integer from 1 to 65535, got '0'"},
    {"server:\n  port: 65536\n", 2, 9, "got '65536'"},
    {"server:\n  port: -1\n", 2, 9, "got '-1'"},
    {"server:\n  port: 80.5\n", 2, 9, "got '80.5'"},
    {"server:\n  port: 0x50\n", 2, 9, "got '0x50'"},
    {"server:\n  port: 080\n", 2, 9, "got '080'"},
    {"server:\n  port: 99999999999999999999999\n", 2, 9, "from 1 to 65535"},
    {"server:\n  port:\n", 2, 3, "'port' needs a value (an integer from 1 to 65535)"},
    {"server:\n  port: ~\n", 2, 3, "'port' needs a value"},
    {"server:\n  port: [80]\n", 2, 9, "'port' must be an integer from 1 to 65535, got a list"},
    {"server:\n  port: {a: 1}\n", 2, 9, "got a map"},
    {"server:\n  host: \"\"\n", 2, 9, "'host' must not be empty"},
    {"server:\n  host: \"bad host\"\n", 2, 9, "'host' character ' ' is not allowed in a host name"},
    {"server:\n  host: 300.1.1.1\n", 2, 9, "not a valid IPv4 address"},
    {"server:\n  host: \"0.0.0.0:80\"\n", 2, 9, "'host' "},
    {"server:\n  host: \"a\\nb\"\n", 2, 9, "'host' must not contain control characters, got 'a\\x0ab'"},
    {"server:\n  workers: 0\n", 2, 12, "'workers' must be auto or an integer from 1 to 1024, got '0'"},
    {"server:\n  workers: 1025\n", 2, 12, "got '1025'"},
    {"server:\n  workers: Auto\n", 2, 12, "got 'Auto'"},
    {"server:\n  workers: [auto]\n", 2, 12, "'workers' must be auto or an integer from 1 to 1024, got a list"},
    {"server:\n  forwarded: xff\n", 2, 14, "'forwarded' must be one of x-forwarded, rfc7239, both, none; got 'xff'"},
    {"server:\n  forwarded: rfc7329\n", 2, 14, "(did you mean 'rfc7239'?)"},
    {"server:\n  trusted_proxies: 10.0.0.0/8\n", 2, 20, "'trusted_proxies' must be a list, got a single value"},
    {"server:\n  trusted_proxies: [10.0.0.0/8, 300.0.0.0/8]\n", 2, 33,
     "an entry of 'trusted_proxies' must be an address or CIDR block like 10.0.0.0/8 or fd00::/8, got "
     "'300.0.0.0/8'"},
    {"server:\n  trusted_proxies:\n    - 10.0.0.0/33\n    - ::1/129\n    - 010.0.0.1\n", 3, 7, "'10.0.0.0/33'", 3},
    {"server:\n  trusted_proxies: [[10.0.0.0/8]]\n", 2, 21, "an entry of 'trusted_proxies' must be a string, got a list"},
    {"server:\n  timeouts: 5s\n", 2, 13, "'timeouts' must be a map of settings, got a single value"},
    {"server:\n  timeouts:\n    conect: 5s\n", 3, 5, "unknown key 'conect' in server.timeouts; did you mean 'connect'?"},
    {"server:\n  timeouts:\n    connect: 5\n    keepalive: 10x\n", 4, 16,
     "'keepalive' must be a duration like 250ms, 10s, 5m, 1h or 1m30s (at most 3650d), got '10x'"},
    {"server:\n  timeouts:\n    connect: -5s\n", 3, 14, "'connect' must not be negative, got '-5s'"},
    {"server:\n  timeouts:\n    connect: 0s\n", 3, 14, "'connect' must be more than 0s, got '0s'"},
    {"server:\n  timeouts:\n    client_header: 0\n", 3, 20, "more than 0s"},
    {"server:\n  timeouts:\n    tunnel_idle: 1.5h\n", 3, 18, "got '1.5h'"},
    {"server:\n  timeouts:\n    shutdown_drain: 3651d\n", 3, 21, "at most 3650d"},
    {"server:\n  timeouts:\n    keepalive: 30s\n    keepalive: 40s\n", 4, 5,
     "duplicate key 'keepalive' in server.timeouts (first at line 3)"},
    {"server:\n  limits:\n    max_header_bytes: 512\n", 3, 23, "'max_header_bytes' must be from 1k to 1m, got '512'"},
    {"server:\n  limits:\n    max_header_bytes: 2m\n", 3, 23, "from 1k to 1m, got '2m'"},
    {"server:\n  limits:\n    max_header_bytes: 1.5k\n", 3, 23, "must be a size like 512, 16k, 1m or 2g, got '1.5k'"},
    {"server:\n  limits:\n    max_body_bytes: -1\n", 3, 21, "must be a size like"},
    {"server:\n  limits:\n    max_body_bytes: 99999999999g\n", 3, 21, "must be a size like"},
    {"server:\n  limits:\n    max_connections: 0\n", 3, 22, "'max_connections' must be an integer from 1 to 10000000"},
    {"server:\n  limits:\n    max_connections: 20k\n", 3, 22, "got '20k'"},
    {"server:\n  limits:\n    max_conections: 1\n", 3, 5, "did you mean 'max_connections'?"},
    {"server:\n  access_log_format: xml\n", 2, 22, "'access_log_format' must be one of json, combined; got 'xml'"},
    {"server:\n  access_log: /nonexistent-gh-dir/x.log\n", 2, 15, "directory '/nonexistent-gh-dir' does not exist"},
    {"server:\n  access_log: \"\"\n", 2, 15, "'access_log' must not be empty"},
    {"server:\n  reverse_proxy: {path: /}\n", 2, 18, "'reverse_proxy' must be a list, got a map"},
    {"server:\n  path: /api\n", 2, 3, "unknown key 'path' in server"},
    {"server:\n  strip_prefix: true\n", 2, 3, "it belongs in a reverse_proxy route"},

    // Routes.
    {"server:\n  reverse_proxy:\n    - path: /api\n      strip_prefx: true\n", 4, 7,
     "unknown key 'strip_prefx' in route; did you mean 'strip_prefix'?"},
    {"server:\n  reverse_proxy:\n    - pth: /api\n", 3, 7, "did you mean 'path'?"},
    {"server:\n  reverse_proxy:\n    - hots: x\n", 3, 7, "did you mean 'host'?"},
    {"server:\n  reverse_proxy:\n    - backend: []\n", 3, 7, "did you mean 'backends'?"},
    {"server:\n  reverse_proxy:\n    - helth_check: {}\n", 3, 7, "did you mean 'health_check'?"},
    {"server:\n  reverse_proxy:\n    - timeouts: {}\n", 3, 7, "unknown key 'timeouts' in route; it belongs in server"},
    {"server:\n  reverse_proxy:\n    - /api\n", 3, 7, "a reverse_proxy entry must be a map of settings, got a single value"},
    {"server:\n  reverse_proxy:\n    - [a]\n", 3, 7, "got a list"},
    {"server:\n  reverse_proxy:\n    - path: api\n", 3, 13, "'path' 'api': must start with '/'"},
    {"server:\n  reverse_proxy:\n    - path: \"\"\n", 3, 13, "'path' must not be empty"},
    {"server:\n  reverse_proxy:\n    - path: /a?b=1\n", 3, 13, "'?' is not allowed"},
    {"server:\n  reverse_proxy:\n    - path: \"/a#b\"\n", 3, 13, "'#' is not allowed"},
    {"server:\n  reverse_proxy:\n    - path: \"/a b\"\n", 3, 13, "spaces, control characters"},
    {"server:\n  reverse_proxy:\n    - path: \"/caf\xc3\xa9\"\n", 3, 13, "non-ASCII"},
    {"server:\n  reverse_proxy:\n    - path: /a/../b\n", 3, 13, "'.' and '..' segments are not allowed"},
    {"server:\n  reverse_proxy:\n    - path: /a/.\n", 3, 13, "'.' and '..' segments"},
    {"server:\n  reverse_proxy:\n    - path: /..\n", 3, 13, "'.' and '..' segments"},
    {"server:\n  reverse_proxy:\n    - path: //a\n", 3, 13, "empty path segments"},
    {"server:\n  reverse_proxy:\n    - path: /a//b\n", 3, 13, "empty path segments"},
    {"server:\n  reverse_proxy:\n    - path: /a%zz\n", 3, 13, "'%' must start a %XX escape"},
    {"server:\n  reverse_proxy:\n    - path: /a%2\n", 3, 13, "'%' must start a %XX escape"},
    {"server:\n  reverse_proxy:\n    - path: \"/a\\\\b\"\n", 3, 13, "character '\\' is not allowed in a path"},
    {"server:\n  reverse_proxy:\n    - path: \"/a<b>\"\n", 3, 13, "character '<' is not allowed"},
    {"server:\n  reverse_proxy:\n    - port: 70000\n", 3, 13, "'port' must be an integer from 1 to 65535"},
    {"server:\n  reverse_proxy:\n    - host: http://x\n", 3, 13, "'host' 'http://x': a host has no scheme"},
    {"server:\n  reverse_proxy:\n    - host: \"x:80\"\n", 3, 13, "a host name cannot contain ':'"},
    {"server:\n  reverse_proxy:\n    - host: a..b\n", 3, 13, "empty label in host name"},
    {"server:\n  reverse_proxy:\n    - host: 1.2.3\n", 3, 13, "not a valid IPv4 address"},
    {"server:\n  reverse_proxy:\n    - ssl: maybe\n", 3, 12, "'ssl' must be true or false, got 'maybe'"},
    {"server:\n  reverse_proxy:\n    - ssl: \"false\"\n", 3, 12, "got 'false' in quotes (write it without quotes)"},
    {"server:\n  reverse_proxy:\n    - ssl: 1\n", 3, 12, "'ssl' must be true or false, got '1'"},
    {"server:\n  reverse_proxy:\n    - ssl: tRuE\n", 3, 12, "got 'tRuE'"},
    {"server:\n  reverse_proxy:\n    - websocket: sometimes\n", 3, 18, "'websocket' must be true or false"},
    {"server:\n  reverse_proxy:\n    - cache: 1\n", 3, 14, "'cache' must be true or false"},
    {"server:\n  reverse_proxy:\n    - domains: example.com\n", 3, 16, "'domains' must be a list, got a single value"},
    {"server:\n  reverse_proxy:\n    - domains: [\"*\"]\n", 3, 17, "domain '*': '*' is only allowed as a whole first label"},
    {"server:\n  reverse_proxy:\n    - domains: [\"a*.b.com\"]\n", 3, 17, "'*' is only allowed"},
    {"server:\n  reverse_proxy:\n    - domains: [\"*.*.com\"]\n", 3, 17, "'*' is only allowed"},
    {"server:\n  reverse_proxy:\n    - domains: [\"a.*\"]\n", 3, 17, "'*' is only allowed"},
    {"server:\n  reverse_proxy:\n    - domains: [\"a.com:80\"]\n", 3, 17, "a domain has no port"},
    {"server:\n  reverse_proxy:\n    - domains: [\"exa mple.com\"]\n", 3, 17, "is not allowed in a host name"},
    {"server:\n  reverse_proxy:\n    - domains: [\"\"]\n", 3, 17, "an entry of 'domains' must not be empty"},
    {"server:\n  reverse_proxy:\n    - domains: [\"*.1.2\"]\n", 3, 17, "not a host name"},
    {"server:\n  reverse_proxy:\n    - balance: roundrobin\n", 3, 16,
     "'balance' must be one of round_robin, least_conn, ip_hash, random; got 'roundrobin' (did you mean "
     "'round_robin'?)"},
    {"server:\n  reverse_proxy:\n    - balance: weighted\n", 3, 16, "got 'weighted'"},
    {"server:\n  reverse_proxy:\n    - retries: 11\n", 3, 16, "'retries' must be an integer from 0 to 10, got '11'"},
    {"server:\n  reverse_proxy:\n    - retries: -1\n", 3, 16, "from 0 to 10"},
    {"server:\n  reverse_proxy:\n    - redirect: http\n", 3, 17, "'redirect' must be 'https'; got 'http'"},
    {"server:\n  reverse_proxy:\n    - redirect: true\n", 3, 17, "'redirect' must be 'https'"},

    // Backends and folding.
    {"server:\n  reverse_proxy:\n    - host: a\n      backends: [{address: b:1}]\n", 3, 7,
     "conflicting options: 'host' and 'backends' in one route"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: b:1}]\n      port: 81\n", 4, 7,
     "conflicting options: 'port' and 'backends' in one route"},
    {"server:\n  reverse_proxy:\n    - backends: []\n", 3, 17, "'backends' must list at least one backend"},
    {"server:\n  reverse_proxy:\n    - backends:\n", 3, 7, "'backends' must list at least one backend"},
    {"server:\n  reverse_proxy:\n    - backends: {address: a}\n", 3, 17, "'backends' must be a list, got a map"},
    {"server:\n  reverse_proxy:\n    - backends:\n        - weight: 2\n", 4, 11, "a backend needs an 'address' (host:port)"},
    {"server:\n  reverse_proxy:\n    - backends:\n        - a:1\n", 4, 11, "a backends entry must be a map with an 'address', got a single value"},
    {"server:\n  reverse_proxy:\n    - backends:\n        - adress: a:1\n", 4, 11, "did you mean 'address'?", 2},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"http://a:80\"}]\n", 3, 28, "write host:port without a scheme"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"a:80/x\"}]\n", 3, 28, "without a path"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"::1:80\"}]\n", 3, 28, "an IPv6 address needs brackets"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"[::1\"}]\n", 3, 28, "missing ']'"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"[::1]80\"}]\n", 3, 28, "expected ':port' after ']'"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"[1.2.3.4]:80\"}]\n", 3, 28, "not a valid bracketed IPv6"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"a:0\"}]\n", 3, 28, "the port must be a number from 1 to 65535"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"a:\"}]\n", 3, 28, "the port must be"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \":80\"}]\n", 3, 28, "empty host"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: \"a:65536\"}]\n", 3, 28, "the port must be"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: a:1, weight: 0}]\n", 3, 41, "'weight' must be an integer from 1 to 1000"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: a:1, weight: 1001}]\n", 3, 41, "got '1001'"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: a:1, backup: maybe}]\n", 3, 41, "'backup' must be true or false"},
    {"server:\n  reverse_proxy:\n    - backends: [{address: a:1}, {address: a:1}]\n", 3, 34,
     "backend 'a:1' is listed twice in this route"},

    // health_check
    {"server:\n  reverse_proxy:\n    - health_check: yes\n", 3, 21, "'health_check' must be a map of settings"},
    {"server:\n  reverse_proxy:\n    - health_check: {interval: 0s}\n", 3, 32, "'interval' must be more than 0s"},
    {"server:\n  reverse_proxy:\n    - health_check: {healthy: 0}\n", 3, 31, "'healthy' must be an integer from 1 to 100"},
    {"server:\n  reverse_proxy:\n    - health_check: {unhealthy: 101}\n", 3, 33, "'unhealthy' must be an integer from 1 to 100"},
    {"server:\n  reverse_proxy:\n    - health_check: {expect_status: 600}\n", 3, 37,
     "'expect_status' must be a status code (100-599) or a range like 200-399, got '600'"},
    {"server:\n  reverse_proxy:\n    - health_check: {expect_status: 399-200}\n", 3, 37, "got '399-200'"},
    {"server:\n  reverse_proxy:\n    - health_check: {expect_status: 2xx}\n", 3, 37, "got '2xx'"},
    {"server:\n  reverse_proxy:\n    - health_check: {expect_status: 200-}\n", 3, 37, "got '200-'"},
    {"server:\n  reverse_proxy:\n    - health_check: {path: health}\n", 3, 28, "health_check 'path' 'health': must start with '/'"},
    {"server:\n  reverse_proxy:\n    - health_check: {path: \"/h#x\"}\n", 3, 28, "'#' is not allowed"},
    {"server:\n  reverse_proxy:\n    - health_check: {pth: /}\n", 3, 22, "unknown key 'pth' in health_check; did you mean 'path'?"},

    // Upstream tls
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {verify: no}\n      tls: {}\n", 5, 7,
     "duplicate key 'tls' in route (first at line 4)"},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {verify: maybe}\n", 4, 21, "'verify' must be true or false"},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {sni: 10.0.0.1}\n", 4, 18, "'sni' must be a host name, got '10.0.0.1'"},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {ca_file: /nonexistent/ca.pem}\n", 4, 22,
     "'ca_file' '/nonexistent/ca.pem': No such file or directory"},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {ca_file: missing-ca.pem}\n", 4, 22,
     "(looked in "},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {ca_file: /}\n", 4, 22, "'ca_file' '/' is not a regular file"},
    {"server:\n  reverse_proxy:\n    - ssl: true\n      tls: {verfy: true}\n", 4, 13, "did you mean 'verify'?"},

    // Duplicate routes: reported at the second one's path.
    {"server:\n  reverse_proxy:\n    - path: /api\n    - path: /api/\n", 4, 13,
     "duplicate route: path '/api' with the same domains is already defined at line 3"},
    {"server:\n  reverse_proxy:\n    - path: /\n    - host: b\n", 4, 7, "duplicate route: path '/'"},
    // A broken entry or path is not also reported as a duplicate of '/'.
    {"server:\n  reverse_proxy:\n    - path: /\n    - /api\n", 4, 7, "must be a map of settings"},
    {"server:\n  reverse_proxy:\n    - path: /\n    - path: api\n", 4, 13, "must start with '/'"},
    {"server:\n  reverse_proxy:\n    - path: /\n    - path: [a]\n", 4, 13, "'path' must be a string, got a list"},
    {"server:\n  reverse_proxy:\n    - {path: /a, domains: [a.com, b.com]}\n    - {path: /a, domains: [B.com, a.com]}\n",
     4, 14, "duplicate route"},

    // Front ssl
    {"ssl: true\n", 1, 6, "'ssl' must be a map of settings, got a single value"},
    {"ssl:\n  enabled: true\n", 2, 3, "ssl is enabled but 'cert_file' is missing", 2},
    {"ssl:\n  enabled: treu\n", 2, 12, "'enabled' must be true or false, got 'treu'"},
    {"ssl:\n  enabled: true\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n", 3, 14,
     "'cert_file' '/nonexistent/c.pem': No such file or directory", 2},
    {"ssl:\n  hsts: -1s\n", 2, 9, "'hsts' must not be negative"},
    {"ssl:\n  hsts: 1y\n", 2, 9, "'hsts' must be a duration"},
    {"ssl:\n  port: 0\n", 2, 9, "'port' must be an integer from 1 to 65535"},
    {"ssl:\n  certs: []\n", 2, 3, "unknown key 'certs' in ssl"},
    {"ssl:\n  certificates: [{cert_file: a.pem}]\n", 2, 18, "a certificates entry needs 'key_file'"},
    {"ssl:\n  certificates: [a.pem]\n", 2, 18, "an ssl.certificates entry must be a map with cert_file and key_file"},
    {"ssl:\n  certificates: [{cert_file: a, key_file: b, chain: c}]\n", 2, 46,
     "unknown key 'chain' in ssl.certificates entry"},

    // admin
    {"admin:\n  enabled: maybe\n", 2, 12, "'enabled' must be true or false"},
    {"admin:\n  enabled: true\n  port: 8080\n", 3, 9, "admin 'port' 8080 is already server 'port'"},
    {"admin:\n  enabled: true\n  prt: 1\n", 3, 3, "unknown key 'prt' in admin; did you mean 'port'?"},
    {"admin:\n  enabled: true\n  host: \"a b\"\n", 3, 9, "admin 'host' 'a b'"},
    {"server:\n  port: 9901\nadmin:\n  enabled: true\n", 4, 3, "admin 'port' 9901 is already server 'port'"},
    // One port on overlapping addresses: a wildcard covers its family.
    {"server:\n  host: 127.0.0.1\nadmin:\n  enabled: true\n  host: 0.0.0.0\n  port: 8080\n", 6, 9,
     "admin 'port' 8080 is already server 'port' on 127.0.0.1"},
    {"server:\n  host: localhost\nadmin:\n  enabled: true\n  host: 127.0.0.1\n  port: 8080\n", 6, 9,
     "is already server 'port'"},
    {"server:\n  host: \"::\"\nadmin:\n  enabled: true\n  host: \"::1\"\n  port: 8080\n", 6, 9,
     "is already server 'port'"},
};

TEST(LoaderErrors, Table) {
  TempDir dir;
  for (const BadCase& c : kBadCases) {
    SCOPED_TRACE(c.yaml);
    LoadResult r = load_string(c.yaml, dir.config_name());
    EXPECT_FALSE(r.config.has_value());
    EXPECT_EQ(r.errors.size(), c.count) << all_errors(r);
    bool found = false;
    for (const Error& e : r.errors) {
      EXPECT_EQ(e.file, dir.config_name());
      if (e.line == c.line && e.col == c.col && e.message.find(c.fragment) != std::string::npos) {
        found = true;
      }
    }
    EXPECT_TRUE(found) << "want " << c.line << ":" << c.col << ": ..." << c.fragment << "...\ngot:\n"
                       << all_errors(r);
  }
}

TEST(LoaderErrors, CollectsAllErrorsSortedByPosition) {
  TempDir dir;
  const char* yaml =
      "admin:\n"
      "  enabled: maybe\n"
      "server:\n"
      "  prot: 8080\n"
      "  workers: none\n"
      "  timeouts:\n"
      "    connect: soon\n"
      "  reverse_proxy:\n"
      "    - path: api\n"
      "      balance: fastest\n"
      "    - path: /ok\n"
      "      backends: [{address: \"http://x\"}]\n"
      "ssl:\n"
      "  enabled: true\n"
      "extra: 1\n";
  LoadResult r = load_string(yaml, "conf.yaml");
  ASSERT_EQ(r.errors.size(), 10u) << all_errors(r);
  std::vector<std::pair<int, int>> where;
  for (const Error& e : r.errors) where.emplace_back(e.line, e.col);
  std::vector<std::pair<int, int>> want = {{2, 12}, {4, 3},  {5, 12},  {7, 14}, {9, 13},
                                           {10, 16}, {12, 28}, {14, 3}, {14, 3}, {15, 1}};
  EXPECT_EQ(where, want) << all_errors(r);
  EXPECT_EQ(r.errors[1].str(), "conf.yaml:4:3: unknown key 'prot' in server; did you mean 'port'?");
}

// ---------------------------------------------------------------------------
// Cross-key rules (issue 11, item 4): an error only where the combination has
// no sensible meaning; a warning where it is unusual; nothing where it is fine.

struct WarnCase {
  const char* yaml;
  int line;
  int col;
  const char* fragment;
};

const WarnCase kWarnCases[] = {
    // Backups serve when no primary is usable: with none, always.
    {"server:\n  reverse_proxy:\n    - backends:\n        - address: a:1\n          backup: true\n", 3, 7,
     "every backend is a backup; with no primary they serve as primaries would"},
    // Details for a TLS that is off: kept, unused.
    {"server:\n  reverse_proxy:\n    - tls: {verify: false}\n", 3, 7,
     "'tls' has no effect while 'ssl' is false; add 'ssl: true' for TLS to the backend"},
    // A disabled ssl block keeps its settings, as it keeps its file paths.
    {"ssl:\n  enabled: false\n  redirect_http: true\n", 3, 18,
     "'redirect_http' has no effect while ssl is not enabled"},
};

TEST(LoaderWarnings, Table) {
  TempDir dir;
  for (const WarnCase& c : kWarnCases) {
    SCOPED_TRACE(c.yaml);
    LoadResult r = load_string(c.yaml, dir.config_name());
    EXPECT_TRUE(r.config.has_value()) << all_errors(r);
    EXPECT_TRUE(r.errors.empty()) << all_errors(r);
    ASSERT_EQ(r.warnings.size(), 1u);
    const Error& w = r.warnings[0];
    EXPECT_TRUE(w.warning);
    EXPECT_EQ(w.file, dir.config_name());
    EXPECT_EQ(w.line, c.line);
    EXPECT_EQ(w.col, c.col);
    EXPECT_NE(w.message.find(c.fragment), std::string::npos) << w.message;
    EXPECT_EQ(w.str(), dir.config_name() + ":" + std::to_string(c.line) + ":" + std::to_string(c.col) +
                           ": warning: " + w.message);
  }
}

TEST(LoaderWarnings, SortedAndKeptBesideErrors) {
  LoadResult r = load_string(
      "server:\n  reverse_proxy:\n    - tls: {verify: false}\n      balance: fastest\n    - tls: {}\n      path: /b\n",
      "w.yaml");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].line, 3);
  EXPECT_EQ(r.warnings[1].line, 5);
}

TEST(LoaderCrossKey, HealthCheckTimeoutMayExceedTheInterval) {
  TempDir dir;
  LoadResult r = load_string(R"(
server:
  reverse_proxy:
    - health_check: {interval: 500ms, timeout: 1s}
    - path: /b
      health_check: {interval: 5s, timeout: 6s}
    - path: /c
      health_check: {timeout: 6s}
    - path: /d
      health_check: {interval: 1s}
)",
                             dir.config_name());
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.size();
  const auto& rp = r.config->server.reverse_proxy;
  EXPECT_EQ(rp[0].health_check.interval, 500ms);
  EXPECT_EQ(rp[0].health_check.timeout, 1s);
  EXPECT_EQ(rp[1].health_check.timeout, 6s);
  EXPECT_EQ(rp[2].health_check.interval, 5s);
  EXPECT_EQ(rp[2].health_check.timeout, 6s);
  // Only the default timeout follows a shorter interval.
  EXPECT_EQ(rp[3].health_check.timeout, 1s);
}

TEST(LoaderCrossKey, AdminSharesAPortOnAnotherAddress) {
  TempDir dir;
  Config a = load_ok(dir, "server:\n  host: 10.0.0.1\nadmin:\n  enabled: true\n  host: 127.0.0.1\n  port: 8080\n");
  EXPECT_EQ(a.admin.port, 8080);
  // IPv6 listeners are IPv6-only: "::" does not cover 127.0.0.1.
  Config b = load_ok(dir, "server:\n  host: \"::\"\nadmin:\n  enabled: true\n  port: 8080\n");
  EXPECT_EQ(b.admin.host, "127.0.0.1");
  // A disabled admin block never conflicts.
  load_ok(dir, "admin:\n  enabled: false\n  port: 8080\n");
}

TEST(LoaderCrossKey, SslPortRulesThatStay) {
  TempDir dir;
  dir.write("c.pem");
  dir.write("k.pem");
  // Two listeners on one port: no meaning.
  LoadResult same = load_string("ssl:\n  enabled: true\n  port: 8080\n  cert_file: c.pem\n  key_file: k.pem\n",
                                dir.config_name());
  ASSERT_EQ(same.errors.size(), 1u) << all_errors(same);
  EXPECT_EQ(same.errors[0].line, 3);
  EXPECT_NE(same.errors[0].message.find("is the same as server 'port'"), std::string::npos);
  // Redirecting plain HTTP needs a plain listener: without ssl.port there is none.
  LoadResult no_plain = load_string(
      "ssl:\n  enabled: true\n  cert_file: c.pem\n  key_file: k.pem\n  redirect_http: true\n", dir.config_name());
  ASSERT_EQ(no_plain.errors.size(), 1u) << all_errors(no_plain);
  EXPECT_EQ(no_plain.errors[0].line, 5);
  EXPECT_NE(no_plain.errors[0].message.find("needs a separate ssl 'port'"), std::string::npos);
}

TEST(LoaderCrossKey, CertificatesAloneGiveTheDefaultFromTheFirst) {
  TempDir dir;
  std::string a = dir.write("a.pem"), ak = dir.write("a.key");
  std::string b = dir.write("b.pem"), bk = dir.write("b.key");
  Config c = load_ok(dir, R"(
ssl:
  enabled: true
  certificates:
    - {cert_file: a.pem, key_file: a.key}
    - {cert_file: b.pem, key_file: b.key}
)");
  EXPECT_EQ(c.ssl.cert_file, a);
  EXPECT_EQ(c.ssl.key_file, ak);
  ASSERT_EQ(c.ssl.certificates.size(), 1u);
  EXPECT_EQ(c.ssl.certificates[0].cert_file, b);
  EXPECT_EQ(c.ssl.certificates[0].key_file, bk);
  // Half a default pair is still an error, certificates or not.
  LoadResult half = load_string(
      "ssl:\n  enabled: true\n  cert_file: a.pem\n  certificates: [{cert_file: b.pem, key_file: b.key}]\n",
      dir.config_name());
  ASSERT_EQ(half.errors.size(), 1u) << all_errors(half);
  EXPECT_NE(half.errors[0].message.find("'key_file' is missing"), std::string::npos);
}

TEST(LoaderErrors, ErrorStrFormat) {
  Error e{"/etc/gatehouse.yaml", 12, 7, "unknown key 'x' in route"};
  EXPECT_EQ(e.str(), "/etc/gatehouse.yaml:12:7: unknown key 'x' in route");
  Error empty{"f", 1, 1, ""};
  EXPECT_EQ(empty.str(), "f:1:1: ");
}

TEST(LoaderErrors, MissingFile) {
  LoadResult r = load_file("/nonexistent-gh/gatehouse.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors[0].str(), "/nonexistent-gh/gatehouse.yaml:1:1: cannot read file: No such file or directory");
}

TEST(LoaderErrors, DirectoryAsFile) {
  TempDir dir;
  LoadResult r = load_file(dir.path().string());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "cannot read file: is a directory");
}

TEST(LoaderErrors, HugeFileRefused) {
  TempDir dir;
  std::string big = "# " + std::string(2 << 20, 'x') + "\n";
  std::string path = dir.write("big.yaml", big);
  LoadResult r = load_file(path);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("larger than"), std::string::npos);
  EXPECT_EQ(load_string(big, "big").errors.size(), 1u);
}

TEST(LoaderErrors, TooManyErrorsAreCapped) {
  std::string yaml = "server:\n  reverse_proxy:\n";
  for (int i = 0; i < 500; ++i) yaml += "    - {path: /p" + std::to_string(i) + ", port: 0}\n";
  LoadResult r = load_string(yaml, "many.yaml");
  ASSERT_EQ(r.errors.size(), 201u);
  EXPECT_NE(r.errors.back().message.find("too many errors"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Valid configs and the values they produce.

TEST(LoaderValid, EmptyAndMissingSectionsGiveDefaults) {
  TempDir dir;
  for (const char* yaml : {"", "# only a comment\n", "server:\n", "server: {}\nssl:\nadmin:\n", "---\n", "~\n"}) {
    SCOPED_TRACE(yaml);
    Config c = load_ok(dir, yaml);
    EXPECT_EQ(c.file, dir.config_name());
    EXPECT_EQ(c.server.host, "0.0.0.0");
    EXPECT_EQ(c.server.port, 8080);
    EXPECT_EQ(c.server.workers, 0u);
    EXPECT_TRUE(c.server.trusted_proxies.empty());
    EXPECT_EQ(c.server.forwarded, Forwarded::x_forwarded);
    EXPECT_EQ(c.server.timeouts.client_header, 10s);
    EXPECT_EQ(c.server.timeouts.client_body, 60s);
    EXPECT_EQ(c.server.timeouts.keepalive, 75s);
    EXPECT_EQ(c.server.timeouts.connect, 5s);
    EXPECT_EQ(c.server.timeouts.upstream_response, 60s);
    EXPECT_EQ(c.server.timeouts.tunnel_idle, 1h);
    EXPECT_EQ(c.server.timeouts.shutdown_drain, 30s);
    EXPECT_EQ(c.server.limits.max_header_bytes, 32u * 1024);
    EXPECT_EQ(c.server.limits.max_body_bytes, 0u);
    EXPECT_EQ(c.server.limits.max_connections, 20000u);
    EXPECT_EQ(c.server.access_log, "stdout");
    EXPECT_EQ(c.server.access_log_format, AccessLogFormat::json);
    EXPECT_TRUE(c.server.reverse_proxy.empty());
    EXPECT_FALSE(c.ssl.enabled);
    EXPECT_FALSE(c.ssl.port.has_value());
    EXPECT_FALSE(c.admin.enabled);
    EXPECT_EQ(c.admin.host, "127.0.0.1");
    EXPECT_EQ(c.admin.port, 9901);
  }
}

TEST(LoaderValid, ServerSection) {
  TempDir dir;
  fs::create_directories(dir.path() / "logs");
  Config c = load_ok(dir, R"(
server:
  host: "::"
  port: "9000"
  workers: 4
  trusted_proxies: [10.1.2.3/8, "::1", 192.168.0.0/16]
  forwarded: both
  timeouts:
    client_header: 250ms
    client_body: 1m30s
    keepalive: 30
    connect: 1s
    upstream_response: 2m
    tunnel_idle: 1d
    shutdown_drain: 0s
  limits:
    max_header_bytes: 16KiB
    max_body_bytes: 10m
    max_connections: 500
  access_log: logs/access.log
  access_log_format: combined
)");
  EXPECT_EQ(c.server.host, "::");
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_EQ(c.server.workers, 4u);
  ASSERT_EQ(c.server.trusted_proxies.size(), 3u);
  EXPECT_EQ(gh::core::format_ip(c.server.trusted_proxies[0].addr), "10.0.0.0");
  EXPECT_EQ(c.server.trusted_proxies[0].prefix, 104u);
  EXPECT_EQ(c.server.trusted_proxies[1].prefix, 128u);
  EXPECT_TRUE(c.server.trusted_proxies[2].contains(*gh::core::parse_ip("192.168.7.7")));
  EXPECT_EQ(c.server.forwarded, Forwarded::both);
  EXPECT_EQ(c.server.timeouts.client_header, 250ms);
  EXPECT_EQ(c.server.timeouts.client_body, 90s);
  EXPECT_EQ(c.server.timeouts.keepalive, 30s);
  EXPECT_EQ(c.server.timeouts.connect, 1s);
  EXPECT_EQ(c.server.timeouts.upstream_response, 2min);
  EXPECT_EQ(c.server.timeouts.tunnel_idle, 24h);
  EXPECT_EQ(c.server.timeouts.shutdown_drain, 0s);
  EXPECT_EQ(c.server.limits.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c.server.limits.max_body_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(c.server.limits.max_connections, 500u);
  EXPECT_EQ(c.server.access_log, (dir.path() / "logs/access.log").string());
  EXPECT_EQ(c.server.access_log_format, AccessLogFormat::combined);
}

TEST(LoaderValid, EnumsAndSpecialAccessLogs) {
  TempDir dir;
  for (auto [word, want] : {std::pair{"x-forwarded", Forwarded::x_forwarded}, {"rfc7239", Forwarded::rfc7239},
                            {"both", Forwarded::both}, {"none", Forwarded::none}}) {
    EXPECT_EQ(load_ok(dir, std::string("server: {forwarded: ") + word + "}").server.forwarded, want);
  }
  for (const char* log : {"stdout", "stderr", "off"}) {
    EXPECT_EQ(load_ok(dir, std::string("server: {access_log: ") + log + "}").server.access_log, log);
  }
  EXPECT_EQ(load_ok(dir, "server: {workers: auto}").server.workers, 0u);
  EXPECT_EQ(load_ok(dir, "server: {workers: 1024}").server.workers, 1024u);
  EXPECT_EQ(load_ok(dir, "server: {port: 1}").server.port, 1);
  EXPECT_EQ(load_ok(dir, "server: {port: 65535}").server.port, 65535);
  EXPECT_EQ(load_ok(dir, "server: {limits: {max_header_bytes: 1k}}").server.limits.max_header_bytes, 1024u);
  EXPECT_EQ(load_ok(dir, "server: {limits: {max_header_bytes: 1m}}").server.limits.max_header_bytes, 1u << 20);
  EXPECT_EQ(load_ok(dir, "server: {limits: {max_body_bytes: 0}}").server.limits.max_body_bytes, 0u);
}

TEST(LoaderValid, BooleansAsPyYamlReadsThem) {
  TempDir dir;
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "on", "ON"}) {
    EXPECT_TRUE(load_ok(dir, std::string("server: {reverse_proxy: [{cache: ") + t + "}]}")
                    .server.reverse_proxy.at(0).policies.cache->enabled) << t;
  }
  for (const char* t : {"false", "False", "FALSE", "no", "NO", "off", "Off"}) {
    EXPECT_FALSE(load_ok(dir, std::string("server: {reverse_proxy: [{preserve_host: ") + t + "}]}")
                     .server.reverse_proxy.at(0).preserve_host) << t;
  }
}

TEST(LoaderValid, RouteDefaultsAndFolding) {
  TempDir dir;
  Config c = load_ok(dir, R"(
server:
  reverse_proxy:
    - {}
    - path: /api/
      host: Backend.Internal
      port: 3000
    - path: /tls
      ssl: true
      host: "[::1]"
)");
  ASSERT_EQ(c.server.reverse_proxy.size(), 3u);
  const Route& d = c.server.reverse_proxy[0];
  EXPECT_EQ(d.path, "/");
  EXPECT_TRUE(d.domains.empty());
  EXPECT_FALSE(d.ssl);
  EXPECT_FALSE(d.websocket);
  EXPECT_FALSE(d.strip_prefix);
  EXPECT_TRUE(d.preserve_host);
  EXPECT_EQ(d.balance, Balance::round_robin);
  EXPECT_EQ(d.retries, 1u);
  EXPECT_FALSE(d.health_check.enabled);
  EXPECT_TRUE(d.tls.verify);
  EXPECT_EQ(d.redirect, Redirect::none);
  EXPECT_FALSE(d.policies.cache);
  ASSERT_EQ(d.backends.size(), 1u);
  EXPECT_EQ(d.backends[0].host, "localhost");
  EXPECT_EQ(d.backends[0].port, 80);
  EXPECT_EQ(d.backends[0].weight, 1u);
  EXPECT_FALSE(d.backends[0].backup);
  EXPECT_EQ(d.mark.line, 4);
  EXPECT_EQ(d.mark.col, 7);

  const Route& api = c.server.reverse_proxy[1];
  EXPECT_EQ(api.path, "/api");  // trailing '/' removed
  ASSERT_EQ(api.backends.size(), 1u);
  EXPECT_EQ(api.backends[0].host, "Backend.Internal");
  EXPECT_EQ(api.backends[0].port, 3000);
  EXPECT_EQ(api.mark.line, 5);
  EXPECT_EQ(api.backends[0].mark.line, 6);

  // PyServe's default port stays 80 even with ssl: true.
  const Route& tls = c.server.reverse_proxy[2];
  EXPECT_TRUE(tls.ssl);
  EXPECT_EQ(tls.backends[0].host, "::1");
  EXPECT_EQ(tls.backends[0].port, 80);
}

TEST(LoaderValid, RouteAllKeys) {
  TempDir dir;
  std::string ca = dir.write("certs/ca.pem");
  std::string cert = dir.write("certs/client.pem");
  std::string key = dir.write("certs/client.key");
  Config c = load_ok(dir, R"(
server:
  reverse_proxy:
    - path: /app
      ssl: true
      websocket: true
      domains: [API.Example.com, "*.Example.COM", api.example.com., 10.0.0.1]
      strip_prefix: true
      preserve_host: false
      backends:
        - address: 10.0.0.1:8000
          weight: 2
        - address: "[2001:db8::1]:8443"
        - address: app.internal
          backup: true
        - address: "[fd00::5]"
          weight: 1000
      balance: least_conn
      retries: 0
      health_check:
        path: /healthz?deep=1
        interval: 10s
        timeout: 500ms
        healthy: 1
        unhealthy: 5
        expect_status: 204
      tls:
        verify: false
        ca_file: certs/ca.pem
        sni: backend.internal
        cert_file: certs/client.pem
        key_file: ./certs/client.key
      redirect: https
      cache: true
)");
  ASSERT_EQ(c.server.reverse_proxy.size(), 1u);
  const Route& r = c.server.reverse_proxy[0];
  EXPECT_EQ(r.path, "/app");
  EXPECT_TRUE(r.ssl);
  EXPECT_TRUE(r.websocket);
  EXPECT_EQ(r.domains, (std::vector<std::string>{"api.example.com", "*.example.com", "10.0.0.1"}));
  EXPECT_TRUE(r.strip_prefix);
  EXPECT_FALSE(r.preserve_host);
  ASSERT_EQ(r.backends.size(), 4u);
  EXPECT_EQ(r.backends[0].host, "10.0.0.1");
  EXPECT_EQ(r.backends[0].port, 8000);
  EXPECT_EQ(r.backends[0].weight, 2u);
  EXPECT_EQ(r.backends[1].host, "2001:db8::1");
  EXPECT_EQ(r.backends[1].port, 8443);
  EXPECT_EQ(r.backends[2].host, "app.internal");
  EXPECT_EQ(r.backends[2].port, 443);  // default by ssl
  EXPECT_TRUE(r.backends[2].backup);
  EXPECT_EQ(r.backends[3].host, "fd00::5");
  EXPECT_EQ(r.backends[3].port, 443);
  EXPECT_EQ(r.backends[3].weight, 1000u);
  EXPECT_EQ(r.backends[0].mark.line, 11);
  EXPECT_EQ(r.backends[0].mark.col, 11);
  EXPECT_EQ(r.balance, Balance::least_conn);
  EXPECT_EQ(r.retries, 0u);
  EXPECT_TRUE(r.health_check.enabled);
  EXPECT_EQ(r.health_check.path, "/healthz?deep=1");
  EXPECT_EQ(r.health_check.interval, 10s);
  EXPECT_EQ(r.health_check.timeout, 500ms);
  EXPECT_EQ(r.health_check.healthy, 1u);
  EXPECT_EQ(r.health_check.unhealthy, 5u);
  EXPECT_EQ(r.health_check.expect_min, 204u);
  EXPECT_EQ(r.health_check.expect_max, 204u);
  EXPECT_FALSE(r.tls.verify);
  EXPECT_EQ(r.tls.ca_file, ca);
  EXPECT_EQ(r.tls.sni, "backend.internal");
  EXPECT_EQ(r.tls.cert_file, cert);
  EXPECT_EQ(r.tls.key_file, key);
  EXPECT_EQ(r.redirect, Redirect::https);
  EXPECT_TRUE(r.policies.cache && r.policies.cache->enabled);
}

TEST(LoaderValid, BackendDefaultPortWithoutSsl) {
  TempDir dir;
  Config c = load_ok(dir, "server:\n  reverse_proxy:\n    - backends: [{address: a}, {address: \"[::1]\"}]\n");
  const Route& r = c.server.reverse_proxy.at(0);
  EXPECT_EQ(r.backends.at(0).port, 80);
  EXPECT_EQ(r.backends.at(1).port, 80);
  EXPECT_EQ(r.backends.at(1).host, "::1");
}

TEST(LoaderValid, HealthCheckDefaultsAndRanges) {
  TempDir dir;
  Config c = load_ok(dir, R"(
server:
  reverse_proxy:
    - path: /a
      health_check:
    - path: /b
      health_check: {expect_status: "200-299"}
    - path: /c
      health_check: {interval: 1s}
    - path: /d
      health_check: {expect_status: 100-599}
)");
  const auto& rp = c.server.reverse_proxy;
  ASSERT_EQ(rp.size(), 4u);
  EXPECT_TRUE(rp[0].health_check.enabled);
  EXPECT_EQ(rp[0].health_check.path, "/");
  EXPECT_EQ(rp[0].health_check.interval, 5s);
  EXPECT_EQ(rp[0].health_check.timeout, 2s);
  EXPECT_EQ(rp[0].health_check.healthy, 2u);
  EXPECT_EQ(rp[0].health_check.unhealthy, 3u);
  EXPECT_EQ(rp[0].health_check.expect_min, 200u);
  EXPECT_EQ(rp[0].health_check.expect_max, 399u);
  EXPECT_EQ(rp[1].health_check.expect_min, 200u);
  EXPECT_EQ(rp[1].health_check.expect_max, 299u);
  // A short interval shortens the default timeout rather than failing.
  EXPECT_EQ(rp[2].health_check.interval, 1s);
  EXPECT_EQ(rp[2].health_check.timeout, 1s);
  EXPECT_EQ(rp[3].health_check.expect_min, 100u);
  EXPECT_EQ(rp[3].health_check.expect_max, 599u);
}

TEST(LoaderValid, PathNormalization) {
  TempDir dir;
  struct {
    const char* given;
    const char* want;
  } cases[] = {
      {"/", "/"}, {"/api", "/api"}, {"/api/", "/api"}, {"/api/v1/", "/api/v1"},
      {"/a.b/c..d/.e", "/a.b/c..d/.e"}, {"/~user/%20x", "/~user/%20x"}, {"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="},
      {"/%7Euser/%2f/", "/~user/%2F"},  // the form requests are routed in
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.given);
    std::string yaml = std::string("server:\n  reverse_proxy:\n    - path: \"") + c.given + "\"\n";
    EXPECT_EQ(load_ok(dir, yaml).server.reverse_proxy.at(0).path, c.want);
  }
}

TEST(LoaderValid, SameDomainsDifferentPathsAndViceVersaAreFine) {
  TempDir dir;
  Config c = load_ok(dir, R"(
server:
  reverse_proxy:
    - {path: /, domains: [a.com]}
    - {path: /, domains: [b.com]}
    - {path: /, domains: [a.com, b.com]}
    - {path: /}
    - {path: /x, domains: [a.com]}
)");
  EXPECT_EQ(c.server.reverse_proxy.size(), 5u);
}

TEST(LoaderValid, FrontSsl) {
  TempDir dir;
  std::string cert = dir.write("ssl/cert.pem");
  std::string key = dir.write("ssl/key.pem");
  std::string other_cert = dir.write("ssl/other.pem");
  std::string other_key = dir.write("ssl/other.key");
  Config c = load_ok(dir, R"(
ssl:
  enabled: true
  port: 8443
  cert_file: ./ssl/cert.pem
  key_file: ssl/key.pem
  certificates:
    - cert_file: ssl/other.pem
      key_file: ssl/other.key
  redirect_http: true
  hsts: 365d
)");
  EXPECT_TRUE(c.ssl.enabled);
  EXPECT_EQ(c.ssl.port, std::optional<uint16_t>(8443));
  EXPECT_EQ(c.ssl.cert_file, cert);
  EXPECT_EQ(c.ssl.key_file, key);
  ASSERT_EQ(c.ssl.certificates.size(), 1u);
  EXPECT_EQ(c.ssl.certificates[0].cert_file, other_cert);
  EXPECT_EQ(c.ssl.certificates[0].key_file, other_key);
  EXPECT_EQ(c.ssl.certificates[0].mark.line, 8);
  EXPECT_TRUE(c.ssl.redirect_http);
  EXPECT_EQ(c.ssl.hsts, 365 * 24h);
  EXPECT_EQ(c.ssl.mark.line, 3);

  // Disabled: files are not needed (PyServe users keep the block around).
  Config off = load_ok(dir, "ssl:\n  enabled: false\n  cert_file: nothing.pem\n  port: 8080\n");
  EXPECT_FALSE(off.ssl.enabled);
  EXPECT_EQ(off.ssl.cert_file, (dir.path() / "nothing.pem").string());
}

TEST(LoaderValid, RelativePathFallsBackToWorkingDirectory) {
  TempDir conf_dir;
  TempDir work_dir;
  std::string cert = work_dir.write("ssl/cert.pem");
  std::string key = work_dir.write("ssl/key.pem");
  std::string conf_key = conf_dir.write("ssl/key.pem");  // the config's directory wins when both exist
  fs::path old = fs::current_path();
  fs::current_path(work_dir.path());
  LoadResult r = load_string("ssl:\n  enabled: true\n  cert_file: ./ssl/cert.pem\n  key_file: ssl/key.pem\n",
                             conf_dir.config_name());
  fs::current_path(old);
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->ssl.cert_file, cert);
  EXPECT_EQ(r.config->ssl.key_file, conf_key);
}

TEST(LoaderValid, UnreadableFileIsReported) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads everything";
  TempDir dir;
  std::string cert = dir.write("cert.pem");
  dir.write("key.pem");
  fs::permissions(cert, fs::perms::none);
  LoadResult r = load_string("ssl: {enabled: true, cert_file: cert.pem, key_file: key.pem}\n", dir.config_name());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].col, 33);
  EXPECT_NE(r.errors[0].message.find("Permission denied"), std::string::npos);
}

TEST(LoaderValid, FifoIsNotARegularFile) {
  TempDir dir;
  std::string fifo = (dir.path() / "cert.pem").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  dir.write("key.pem");
  // Opening must not block waiting for a writer.
  LoadResult r = load_string("ssl: {enabled: true, cert_file: cert.pem, key_file: key.pem}\n", dir.config_name());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].col, 33);
  EXPECT_NE(r.errors[0].message.find("is not a regular file"), std::string::npos);
}

TEST(LoaderValid, Admin) {
  TempDir dir;
  Config c = load_ok(dir, "admin:\n  enabled: true\n  host: 0.0.0.0\n  port: 9000\n");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.host, "0.0.0.0");
  EXPECT_EQ(c.admin.port, 9000);
  // A disabled admin block may share a port: nothing listens there.
  EXPECT_FALSE(load_ok(dir, "admin: {port: 8080}").admin.enabled);
}

TEST(LoaderValid, LoadFileReadsFromDisk) {
  TempDir dir;
  std::string path = dir.write("gatehouse.yaml", "server:\n  port: 9090\n");
  LoadResult r = load_file(path);
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->file, path);
  EXPECT_EQ(r.config->server.port, 9090);
}

// ---------------------------------------------------------------------------
// The contract's full example shows every key at once; it mixes host/port
// with backends and sets tls while ssl is false, so it must fail for exactly
// those reasons, and for no unknown key.

const char* kContractExample = R"(server:
  host: 0.0.0.0              # bind address of the plain listener
  port: 8080                 # plain HTTP port
  workers: auto              # worker threads; auto = one per CPU
  trusted_proxies: []        # CIDRs whose X-Forwarded-* / Forwarded we keep and append to
  forwarded: x-forwarded     # x-forwarded | rfc7239 | both | none
  timeouts:
    client_header: 10s       # whole request head must arrive within this
    client_body: 60s         # max gap between body reads
    keepalive: 75s           # idle client keep-alive (never below 30s by default)
    connect: 5s              # upstream TCP+TLS connect
    upstream_response: 60s   # waiting for the upstream response head / between reads
    tunnel_idle: 1h          # WebSocket and other upgraded connections
    shutdown_drain: 30s
  limits:
    max_header_bytes: 32k    # request head; over it: 431
    max_body_bytes: 0        # 0 = unlimited; over it: 413
    max_connections: 20000   # per process; over it new connections wait in the backlog
  access_log: stdout         # stdout | stderr | off | a file path
  access_log_format: json    # json | combined
  reverse_proxy:
    - path: /api             # path prefix, matched on segment boundaries; longest wins
      host: localhost        # backend host (name or IP)
      port: 3000             # backend port
      ssl: false             # TLS to the backend (verified by default)
      websocket: true        # legacy PyServe key: accepted, no effect (upgrades are detected)
      domains: [api.example.com, "*.example.com"]  # match on the request Host; default: any
      strip_prefix: false    # true: /api/users reaches the backend as /users
      preserve_host: true    # send the client's Host upstream; false: backend host[:port]
      backends:              # instead of host/port: several backends
        - address: 10.0.0.1:8000
          weight: 2
        - address: 10.0.0.3:8000
          backup: true       # used only when no primary backend is healthy
      balance: round_robin   # round_robin | least_conn | ip_hash | random
      retries: 1             # extra tries on another backend when connecting fails
      health_check:
        path: /healthz
        interval: 5s
        timeout: 2s
        healthy: 2           # consecutive passes to mark up
        unhealthy: 3         # consecutive failures to mark down
      tls:                   # backend TLS details, when ssl: true
        verify: true
        ca_file: /etc/ssl/certs/ca-certificates.crt
        sni: backend.internal
        cert_file: client.pem    # client certificate for mTLS to the backend
        key_file: client.key
      redirect: https        # instead of proxying: 301 to the https:// form of the same URL
      cache: false           # response caching for this route (off unless asked)

ssl:                         # front TLS (PyServe shape)
  enabled: true
  port: 8443                 # when set: TLS here and plain HTTP stays on server.port;
                             # when absent: server.port itself speaks TLS
  cert_file: ./ssl/cert.pem
  key_file: ./ssl/key.pem
  certificates:              # more certificates, chosen by SNI from their names
    - cert_file: ./ssl/other.pem
      key_file: ./ssl/other.key
  redirect_http: false       # true: the plain listener answers 301 to https://
  hsts: 0s                   # >0: Strict-Transport-Security max-age on TLS responses
)";

TEST(LoaderContract, FullExampleHasOnlyTheIllustrativeConflicts) {
  TempDir dir;
  for (const char* f : {"client.pem", "client.key", "ssl/cert.pem", "ssl/key.pem", "ssl/other.pem", "ssl/other.key"}) {
    dir.write(f);
  }
  std::string text = kContractExample;
  // ca_file names a system path; point it at a file we control.
  std::string ca = dir.write("ca.crt");
  text.replace(text.find("/etc/ssl/certs/ca-certificates.crt"), 34, ca);
  LoadResult r = load_string(text, dir.config_name());
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].str(), dir.config_name() +
                                   ":23:7: conflicting options: 'host' and 'backends' in one route; give "
                                   "the address in backends");
  EXPECT_EQ(r.errors[1].line, 24);
  EXPECT_NE(r.errors[1].message.find("conflicting options: 'port'"), std::string::npos);
  for (const Error& e : r.errors) EXPECT_EQ(e.message.find("unknown key"), std::string::npos);
  // tls details with ssl: false only do nothing: a warning.
  ASSERT_EQ(r.warnings.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.warnings[0].line, 43);
  EXPECT_NE(r.warnings[0].str().find(": warning: 'tls' has no effect while 'ssl' is false"), std::string::npos);

  // Made consistent (no host/port beside backends, ssl on for tls), the
  // same keys load.
  std::string fixed = text;
  for (const char* drop : {"      host: localhost ", "      port: 3000 "}) {
    size_t at = fixed.find(drop);
    ASSERT_NE(at, std::string::npos);
    fixed.erase(at, fixed.find('\n', at) - at + 1);
  }
  fixed.replace(fixed.find("ssl: false"), 10, "ssl: true ");
  LoadResult ok = load_string(fixed, dir.config_name());
  ASSERT_TRUE(ok.config) << all_errors(ok);
  const Route& route = ok.config->server.reverse_proxy.at(0);
  EXPECT_EQ(route.backends.size(), 2u);
  EXPECT_TRUE(route.ssl);
  EXPECT_EQ(route.tls.sni, "backend.internal");
  EXPECT_TRUE(ok.config->ssl.enabled);
  EXPECT_EQ(ok.config->ssl.port, std::optional<uint16_t>(8443));
}

// ---------------------------------------------------------------------------
// Every example of PyServe's reverse-proxy documentation, verbatim.

const char* kSeedBasic = R"(server:
  reverse_proxy:
    - host: localhost      # Backend server host
      path: /api          # Path to proxy
      port: 3000         # Backend server port
      ssl: false         # Backend SSL/TLS
      
    - host: localhost
      path: /ws
      port: 8080
      ssl: false         # Backend SSL/TLS
      
    - host: example.com
      path: /socket.io
      port: 443
      ssl: true          # Use SSL for backend connection
)";

const char* kSeedHttp = R"(# Example HTTP proxy configuration
server:
  reverse_proxy:
    - host: api.internal
      path: /api
      port: 8000
      websocket: false
)";

const char* kSeedWebSocket = R"(# Example WebSocket proxy configuration
server:
  reverse_proxy:
    - host: ws.example.com
      path: /ws
      port: 8080
      websocket: true
      ssl: false
)";

const char* kSeedFrontSsl = R"(# Frontend SSL (Client to PyServe)
ssl:
  enabled: true
  cert_file: ./ssl/cert.pem
  key_file: ./ssl/key.pem

# Backend SSL (PyServe to Backend)
server:
  reverse_proxy:
    - host: secure.example.com
      path: /secure
      port: 443
      ssl: true      # Enable SSL for backend connection
)";

const char* kSeedGateway = R"(server:
  reverse_proxy:
    - host: auth.internal
      path: /auth
      port: 3000
    - host: api.internal
      path: /api/v1
      port: 8000
    - host: api.internal
      path: /api/v2
      port: 8001
)";

const char* kSeedChat = R"(server:
  reverse_proxy:
    - host: chat.internal
      path: /ws/chat
      port: 8080
      websocket: true
    - host: notifications.internal
      path: /ws/notifications
      port: 8081
      websocket: true
)";

const char* kSeedMixed = R"(server:
  reverse_proxy:
    - host: api.example.com
      path: /api
      port: 443
      ssl: true
    - host: ws.example.com
      path: /realtime
      port: 443
      websocket: true
      ssl: true
)";

TEST(LoaderPyServe, BasicExample) {
  TempDir dir;
  Config c = load_ok(dir, kSeedBasic);
  const auto& rp = c.server.reverse_proxy;
  ASSERT_EQ(rp.size(), 3u);
  EXPECT_EQ(rp[0].path, "/api");
  EXPECT_EQ(rp[0].backends.at(0).host, "localhost");
  EXPECT_EQ(rp[0].backends.at(0).port, 3000);
  EXPECT_FALSE(rp[0].ssl);
  EXPECT_EQ(rp[1].path, "/ws");
  EXPECT_EQ(rp[1].backends.at(0).port, 8080);
  EXPECT_EQ(rp[2].path, "/socket.io");
  EXPECT_EQ(rp[2].backends.at(0).host, "example.com");
  EXPECT_EQ(rp[2].backends.at(0).port, 443);
  EXPECT_TRUE(rp[2].ssl);
  // PyServe keeps the prefix? No: gatehouse keeps it unless strip_prefix.
  EXPECT_FALSE(rp[0].strip_prefix);
}

TEST(LoaderPyServe, HttpAndWebSocketExamples) {
  TempDir dir;
  Config http = load_ok(dir, kSeedHttp);
  ASSERT_EQ(http.server.reverse_proxy.size(), 1u);
  EXPECT_EQ(http.server.reverse_proxy[0].backends.at(0).host, "api.internal");
  EXPECT_EQ(http.server.reverse_proxy[0].backends.at(0).port, 8000);
  EXPECT_FALSE(http.server.reverse_proxy[0].websocket);

  Config ws = load_ok(dir, kSeedWebSocket);
  ASSERT_EQ(ws.server.reverse_proxy.size(), 1u);
  EXPECT_TRUE(ws.server.reverse_proxy[0].websocket);
  EXPECT_EQ(ws.server.reverse_proxy[0].path, "/ws");
}

TEST(LoaderPyServe, FrontendSslExampleWithCertFiles) {
  TempDir dir;
  std::string cert = dir.write("ssl/cert.pem");
  std::string key = dir.write("ssl/key.pem");
  Config c = load_ok(dir, kSeedFrontSsl);
  EXPECT_TRUE(c.ssl.enabled);
  EXPECT_FALSE(c.ssl.port.has_value());  // server.port itself speaks TLS
  EXPECT_EQ(c.ssl.cert_file, cert);
  EXPECT_EQ(c.ssl.key_file, key);
  ASSERT_EQ(c.server.reverse_proxy.size(), 1u);
  EXPECT_EQ(c.server.reverse_proxy[0].backends.at(0).host, "secure.example.com");
  EXPECT_TRUE(c.server.reverse_proxy[0].ssl);

  // Without the files the same example names both, at their values.
  TempDir empty;
  LoadResult r = load_string(kSeedFrontSsl, empty.config_name());
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 14);
  EXPECT_EQ(r.errors[1].line, 5);
  EXPECT_EQ(r.errors[1].col, 13);
}

TEST(LoaderPyServe, GatewayChatAndMixedExamples) {
  TempDir dir;
  Config gw = load_ok(dir, kSeedGateway);
  ASSERT_EQ(gw.server.reverse_proxy.size(), 3u);
  EXPECT_EQ(gw.server.reverse_proxy[1].path, "/api/v1");
  EXPECT_EQ(gw.server.reverse_proxy[2].backends.at(0).port, 8001);

  Config chat = load_ok(dir, kSeedChat);
  ASSERT_EQ(chat.server.reverse_proxy.size(), 2u);
  EXPECT_EQ(chat.server.reverse_proxy[1].path, "/ws/notifications");
  EXPECT_EQ(chat.server.reverse_proxy[1].backends.at(0).host, "notifications.internal");

  Config mixed = load_ok(dir, kSeedMixed);
  ASSERT_EQ(mixed.server.reverse_proxy.size(), 2u);
  EXPECT_TRUE(mixed.server.reverse_proxy[1].ssl);
  EXPECT_TRUE(mixed.server.reverse_proxy[1].websocket);
  EXPECT_EQ(mixed.server.reverse_proxy[1].backends.at(0).port, 443);
}

// The example at the end of docs/configuration.md, verbatim.
const char* kDocsExample = R"(server:
  port: 8080
  trusted_proxies: [10.0.0.0/8]
  timeouts:
    connect: 2s
  reverse_proxy:
    - path: /api
      domains: [api.example.com]
      backends:
        - address: 10.0.0.1:8000
          weight: 2
        - address: 10.0.0.2:8000
        - address: 10.0.0.3:8000
          backup: true
      balance: least_conn
      health_check:
        path: /healthz
        interval: 5s
    - path: /                # PyServe shape: one backend
      host: localhost
      port: 3000

ssl:
  enabled: true
  port: 8443
  cert_file: ./ssl/cert.pem
  key_file: ./ssl/key.pem
  redirect_http: true
  hsts: 180d
)";

TEST(LoaderDocs, ExampleLoads) {
  TempDir dir;
  dir.write("ssl/cert.pem");
  dir.write("ssl/key.pem");
  Config c = load_ok(dir, kDocsExample);
  ASSERT_EQ(c.server.reverse_proxy.size(), 2u);
  EXPECT_EQ(c.server.reverse_proxy[0].backends.size(), 3u);
  EXPECT_EQ(c.server.reverse_proxy[0].balance, Balance::least_conn);
  EXPECT_EQ(c.server.reverse_proxy[1].backends.at(0).port, 3000);
  EXPECT_EQ(c.ssl.hsts, 180 * 24h);
}

// ---------------------------------------------------------------------------
// Hostile input: never an exception, never a crash, always a position.

void expect_survives(const std::string& text) {
  LoadResult r;
  EXPECT_NO_THROW(r = load_string(text, "hostile.yaml"));
  EXPECT_NE(r.config.has_value(), !r.errors.empty());
  for (const Error& e : r.errors) {
    EXPECT_GE(e.line, 1);
    EXPECT_GE(e.col, 1);
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(LoaderHostile, OddDocuments) {
  const std::string cases[] = {
      std::string("\0\0\0", 3),
      std::string("server:\n  port: 80\0\n", 21),
      "\xff\xfe\x00s",
      "\xef\xbb\xbfserver: {port: 81}\n",  // UTF-8 BOM
      std::string(100000, '['),
      std::string(100000, '{'),
      std::string(50000, '-') ,
      "a: &a [*a]\n",
      "server: &s {reverse_proxy: [*s]}\n",
      "server:\n  reverse_proxy: &r\n    - path: /\n      backends: *r\n",
      "server:\n  trusted_proxies: &t [*t]\n",
      "server: {reverse_proxy: [{domains: &d [*d]}]}\n",
      "server: !!binary aGVsbG8=\n",
      "server: {port: !!int 80}\n",
      "? server\n",
      "server:\n  ? port\n",
      "server: {port: 80, port: 81}\n",
      "%YAML 1.2\n---\nserver: {}\n",
      "%BOGUS\n---\n",
      "server:\n  host: \"\\u0000\"\n",
      "server:\n  host: \"\\x80\\uD800\"\n",
      "server: {host: " + std::string(100000, 'a') + "}\n",
      std::string(100000, 'k') + ": 1\n",
      "server:\n  reverse_proxy:\n" + std::string(1000, ' ') + "- {}\n",
      "'\n",
      "...\n",
      "|\n  text\n",
  };
  for (const std::string& text : cases) {
    SCOPED_TRACE(text.substr(0, 40));
    expect_survives(text);
  }
}

TEST(LoaderHostile, MutatedValidConfigs) {
  TempDir dir;
  std::string base = kContractExample;
  std::mt19937 rng(12345);
  const std::string alphabet = "\n\t :-[]{}&*!|>'\"%@`#,?0123456789abcxyz/.\\\x00\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string text = (i % 2) ? base : kSeedBasic;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      size_t pos = rng() % text.size();
      switch (rng() % 4) {
        case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text.erase(pos, 1 + rng() % 5); break;
        default: text.insert(pos, text.substr(rng() % text.size(), rng() % 40)); break;
      }
    }
    SCOPED_TRACE(i);
    expect_survives(text);
  }
}

}  // namespace

namespace {

TEST(LoaderSsl, TicketKeyFileRelativeToTheConfigAndWarnedWhenOpen) {
  TempDir dir;
  dir.write("c.pem");
  dir.write("k.pem");
  std::string keys = dir.write("fleet/ticket.keys", "(content is checked by tls::validate)\n");
  const std::string text =
      "ssl:\n  enabled: true\n  cert_file: c.pem\n  key_file: k.pem\n  ticket_key_file: fleet/ticket.keys\n";
  ASSERT_EQ(::chmod(keys.c_str(), 0600), 0);
  LoadResult ok = load_string(text, dir.config_name());
  ASSERT_TRUE(ok.errors.empty()) << all_errors(ok);
  EXPECT_EQ(ok.config->ssl.ticket_key_file, keys);
  EXPECT_EQ(ok.config->ssl.ticket_key_file_mark.line, 5);
  EXPECT_EQ(ok.config->ssl.ticket_key_file_mark.col, 20);
  EXPECT_TRUE(ok.warnings.empty());
  ASSERT_EQ(::chmod(keys.c_str(), 0640), 0);
  EXPECT_TRUE(load_string(text, dir.config_name()).warnings.empty()) << "a group may read";

  ASSERT_EQ(::chmod(keys.c_str(), 0644), 0);
  LoadResult open = load_string(text, dir.config_name());
  ASSERT_TRUE(open.errors.empty()) << all_errors(open);
  ASSERT_EQ(open.warnings.size(), 1u);
  EXPECT_EQ(open.warnings[0].line, 5);
  EXPECT_NE(open.warnings[0].message.find("has mode 0644"), std::string::npos) << open.warnings[0].str();

  LoadResult missing = load_string(
      "ssl:\n  enabled: true\n  cert_file: c.pem\n  key_file: k.pem\n  ticket_key_file: none.keys\n",
      dir.config_name());
  ASSERT_EQ(missing.errors.size(), 1u) << all_errors(missing);
  EXPECT_EQ(missing.errors[0].line, 5);
  EXPECT_EQ(missing.errors[0].col, 20);
  EXPECT_NE(missing.errors[0].message.find("No such file or directory"), std::string::npos);

  // A disabled ssl block may name a file that is not there (as cert_file).
  EXPECT_TRUE(load_string("ssl:\n  enabled: false\n  ticket_key_file: none.keys\n", dir.config_name())
                  .errors.empty());
  LoadResult typo = load_string("ssl:\n  ticket_keys_file: x\n", dir.config_name());
  ASSERT_EQ(typo.errors.size(), 1u);
  EXPECT_NE(typo.errors[0].message.find("ticket_key_file"), std::string::npos) << typo.errors[0].str();
}

}  // namespace
