// Access log: one line per request, json or combined. Workers format lines
// into their own buffer (no lock per request) and hand full buffers, or every
// 100 ms whatever they have, to one writer thread, so a slow disk or a
// blocked stdout never stalls a worker.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "config/config.h"

namespace gh::proxy {

// Wall-clock milliseconds since the epoch, for a record's start time.
int64_t unix_ms();

struct LogRecord {
  int64_t start_unix_ms = 0;
  std::string_view client;        // client IP
  std::string_view method;
  std::string_view path;          // as the client sent it
  std::string_view host;
  std::string_view user_agent;
  std::string_view referer;
  std::string_view request_id;
  std::string_view route;         // route path prefix, empty when none matched
  std::string_view backend;       // "host:port", empty when none was used
  std::string_view proxy_status;  // RFC 9209 error name, empty on success
  std::string_view policy;        // the policy that refused the request ("access"), or empty
  std::string_view note_by;       // a policy's name, with what it noted (waf: the rule ids that matched)
  std::string_view note;
  std::string_view cache;         // cached routes: Cache-Status without the cache's name ("hit; ttl=5")
  std::string_view trace_id;      // W3C traceparent's trace-id (32 hex), received or started; empty: none
  const char* tls_version = nullptr;   // the downstream's TLS version (static string), null: plain
  int status = 0;
  int upstream_status = 0;        // the backend's final status as received; 0: no upstream response
  int version_minor = 1;          // HTTP/1.x: x
  bool http2 = false;             // the request came over HTTP/2 (version_minor unused)
  uint64_t bytes_sent = 0;        // response body bytes sent to the client
  uint64_t bytes_received = 0;    // request body bytes received from the client
  double duration_ms = 0;
  double upstream_ms = -1;        // <0: no upstream exchange
  // For the metrics (proxy/metrics.h): the route's and the backend's
  // statistics slots (RouteRuntime::stats_slot, Backend::stats_slot); 0: none.
  uint32_t route_slot = 0;
  uint32_t backend_slot = 0;
};

// One finished `streams` (TCP) connection, for its access log line.
struct StreamLogRecord {
  int64_t start_unix_ms = 0;
  std::string_view client;        // client IP (a PROXY header's, when one came)
  std::string_view stream;        // the entry: listen address or "sni:<first name>"
  std::string_view backend;       // "host:port", empty when none was reached
  std::string_view end;           // closed | idle_timeout | reset | no_backend | shutdown
  uint64_t bytes_sent = 0;        // to the client
  uint64_t bytes_received = 0;    // from the client
  double duration_ms = 0;
};

class AccessLogSink {
 public:
  // Opens the destination ("stdout", "stderr", "off", or a file path, appended).
  // Returns false with `err` set when a file cannot be opened.
  bool open(const std::string& dest, config::AccessLogFormat fmt, std::string& err);
  ~AccessLogSink();
  bool enabled() const { return fd_ >= 0; }
  config::AccessLogFormat format() const { return fmt_; }
  // Takes ownership of a filled buffer; thread-safe.
  void submit(std::string&& chunk);
  // SIGUSR1 (logrotate renames the file, then signals): the writer thread
  // opens the path anew, creating it with the old file's mode, and writes
  // every later line there; lines queued before go to the old file. False
  // (nothing to do) for stdout, stderr and off. Thread-safe.
  bool reopen();
  void stop();

 private:
  void writer();
  void reopen_now();   // writer thread
  int fd_ = -1;
  bool own_fd_ = false;
  std::string path_;
  bool reopen_ = false;
  config::AccessLogFormat fmt_ = config::AccessLogFormat::json;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// A worker's side of the log: formats into a local buffer.
class AccessLogBuffer {
 public:
  explicit AccessLogBuffer(AccessLogSink& sink) : sink_(sink) {}
  void add(const LogRecord& r);
  // A stream line: json {"time","kind":"stream","client","stream","backend",
  // "bytes_sent","bytes_received","duration_ms","end"}; combined with
  // "STREAM <stream> TCP" as its request line and "-" as status.
  void add_stream(const StreamLogRecord& r);
  void flush();

 private:
  AccessLogSink& sink_;
  std::string buf_;
};

}  // namespace gh::proxy
