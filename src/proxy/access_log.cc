#include "proxy/access_log.h"

#include <sys/time.h>

#include "core/json_string.h"
#include "core/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace gh::proxy {

bool AccessLogSink::open(const std::string& dest, config::AccessLogFormat fmt, std::string& err) {
  fmt_ = fmt;
  if (dest == "off") return true;
  if (dest == "stdout") {
    fd_ = 1;
  } else if (dest == "stderr") {
    fd_ = 2;
  } else {
    fd_ = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      err = "cannot open access log '" + dest + "': " + std::strerror(errno);
      return false;
    }
    own_fd_ = true;
    path_ = dest;
  }
  thread_ = std::thread([this] { writer(); });
  return true;
}

AccessLogSink::~AccessLogSink() { stop(); }

void AccessLogSink::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (own_fd_) ::close(fd_);
}

bool AccessLogSink::reopen() {
  if (!own_fd_) return false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
  return true;
}

void AccessLogSink::reopen_now() {
  struct stat st{};
  mode_t mode = 0644;
  if (::fstat(fd_, &st) == 0) mode = st.st_mode & 07777;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (fd < 0) {
    // Keep writing to the old file rather than lose lines.
    GH_ERROR("access log: cannot reopen '%s': %s", path_.c_str(), std::strerror(errno));
    return;
  }
  // The umask may have narrowed the mode of a file we created.
  struct stat nst{};
  if (::fstat(fd, &nst) == 0 && nst.st_size == 0 && (nst.st_mode & 07777) != mode) ::fchmod(fd, mode);
  ::close(fd_);
  fd_ = fd;
  GH_INFO("access log reopened: %s", path_.c_str());
}

void AccessLogSink::submit(std::string&& chunk) {
  if (fd_ < 0 || chunk.empty()) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Bounded: a stuck destination drops lines instead of growing memory.
    if (queue_.size() < 4096) queue_.push_back(std::move(chunk));
  }
  cv_.notify_one();
}

void AccessLogSink::writer() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || reopen_ || !queue_.empty(); });
    while (!queue_.empty()) {
      std::string s = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      size_t off = 0;
      while (off < s.size()) {
        ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += n;
      }
      lk.lock();
    }
    if (reopen_) {
      reopen_ = false;
      lk.unlock();
      reopen_now();
      lk.lock();
      continue;
    }
    if (stopping_) return;
  }
}

// Appends `prefix` (the separator and the quoted key, e.g. `,"path":`) and
// `value` as a JSON string.
int64_t unix_ms() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return int64_t(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

// The request's protocol as logs name it (the request line's HTTP-version).
static const char* protocol_name(const LogRecord& r) {
  if (r.http2) return "HTTP/2.0";
  return r.version_minor ? "HTTP/1.1" : "HTTP/1.0";
}

// The request's HTTP version as the json log's http_version names it.
static const char* http_version(const LogRecord& r) {
  if (r.http2) return "2";
  return r.version_minor ? "1.1" : "1.0";
}

static void json_field(std::string& o, std::string_view prefix, std::string_view value) {
  o += prefix;
  core::append_json_string(o, value);
}

// Combined format quotes fields; keep them on one line and unambiguous.
static void clf_str(std::string& o, std::string_view s) {
  if (s.empty()) {
    o += '-';
    return;
  }
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
}

// The JSON format's time: RFC 3339 in UTC with milliseconds.
static void append_json_time(std::string& o, int64_t unix_ms) {
  char tbuf[64];
  time_t secs = unix_ms / 1000;
  tm t;
  gmtime_r(&secs, &t);
  std::snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(unix_ms % 1000));
  o += tbuf;
}

// The combined format's start: "client - - [day/Mon/year:h:m:s +0000] ".
static void append_clf_start(std::string& o, std::string_view client, int64_t unix_ms) {
  static const char* mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char tbuf[64];
  time_t secs = unix_ms / 1000;
  tm t;
  gmtime_r(&secs, &t);
  std::snprintf(tbuf, sizeof tbuf, "[%02d/%s/%04d:%02d:%02d:%02d +0000]", t.tm_mday,
                mon[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
  o.append(client.empty() ? std::string_view("-") : client);
  o += " - - ";
  o += tbuf;
}

void AccessLogBuffer::add(const LogRecord& r) {
  if (!sink_.enabled()) return;
  char num[64];
  if (sink_.format() == config::AccessLogFormat::json) {
    buf_ += "{\"time\":\"";
    append_json_time(buf_, r.start_unix_ms);
    json_field(buf_, "\",\"client\":", r.client);
    json_field(buf_, ",\"method\":", r.method);
    json_field(buf_, ",\"path\":", r.path);
    json_field(buf_, ",\"host\":", r.host);
    buf_ += ",\"protocol\":\"";
    buf_ += protocol_name(r);
    buf_ += "\",\"http_version\":\"";
    buf_ += http_version(r);
    buf_ += "\",\"tls_version\":";
    if (r.tls_version) {
      buf_ += '"';
      buf_ += r.tls_version;   // (OpenSSL's names: nothing to escape)
      buf_ += '"';
    } else {
      buf_ += "null";
    }
    std::snprintf(num, sizeof num, ",\"status\":%d,\"bytes_sent\":%llu,\"bytes_received\":%llu",
                  r.status, static_cast<unsigned long long>(r.bytes_sent),
                  static_cast<unsigned long long>(r.bytes_received));
    buf_ += num;
    if (r.upstream_status > 0) {
      std::snprintf(num, sizeof num, ",\"upstream_status\":%d", r.upstream_status);
      buf_ += num;
    } else {
      buf_ += ",\"upstream_status\":null";
    }
    std::snprintf(num, sizeof num, ",\"duration_ms\":%.3f,\"upstream_ms\":", r.duration_ms);
    buf_ += num;
    if (r.upstream_ms >= 0) {
      std::snprintf(num, sizeof num, "%.3f", r.upstream_ms);
      buf_ += num;
    } else {
      buf_ += "null";
    }
    json_field(buf_, ",\"route\":", r.route);
    json_field(buf_, ",\"backend\":", r.backend);
    json_field(buf_, ",\"proxy_status\":", r.proxy_status);
    json_field(buf_, ",\"policy\":", r.policy);
    if (!r.note_by.empty()) {   // (as "<policy>":"<note>", e.g. "waf":"942100,949110")
      buf_ += ",\"";
      buf_ += r.note_by;
      json_field(buf_, "\":", r.note);
    }
    if (!r.cache.empty()) json_field(buf_, ",\"cache\":", r.cache);   // (cached routes only)
    json_field(buf_, ",\"request_id\":", r.request_id);
    if (r.trace_id.empty()) buf_ += ",\"trace_id\":null";
    else json_field(buf_, ",\"trace_id\":", r.trace_id);
    json_field(buf_, ",\"user_agent\":", r.user_agent);
    json_field(buf_, ",\"referer\":", r.referer);
    buf_ += "}\n";
  } else {
    append_clf_start(buf_, r.client, r.start_unix_ms);
    buf_ += " \"";
    clf_str(buf_, r.method);
    buf_ += ' ';
    clf_str(buf_, r.path);
    buf_ += ' ';
    buf_ += protocol_name(r);
    buf_ += "\" ";
    std::snprintf(num, sizeof num, "%d %llu \"", r.status,
                  static_cast<unsigned long long>(r.bytes_sent));
    buf_ += num;
    clf_str(buf_, r.referer);
    buf_ += "\" \"";
    clf_str(buf_, r.user_agent);
    std::snprintf(num, sizeof num, "\" %.3f ", r.duration_ms / 1000.0);
    buf_ += num;
    buf_ += '"';
    clf_str(buf_, r.backend);
    buf_ += "\" \"";
    clf_str(buf_, r.proxy_status);
    buf_ += "\"\n";
  }
  if (buf_.size() >= 32 * 1024) flush();
}

void AccessLogBuffer::add_stream(const StreamLogRecord& r) {
  if (!sink_.enabled()) return;
  char num[128];
  if (sink_.format() == config::AccessLogFormat::json) {
    buf_ += "{\"time\":\"";
    append_json_time(buf_, r.start_unix_ms);
    buf_ += "\",\"kind\":\"stream\"";
    json_field(buf_, ",\"client\":", r.client);
    json_field(buf_, ",\"stream\":", r.stream);
    json_field(buf_, ",\"backend\":", r.backend);
    std::snprintf(num, sizeof num, ",\"bytes_sent\":%llu,\"bytes_received\":%llu,\"duration_ms\":%.3f",
                  static_cast<unsigned long long>(r.bytes_sent),
                  static_cast<unsigned long long>(r.bytes_received), r.duration_ms);
    buf_ += num;
    json_field(buf_, ",\"end\":", r.end);
    buf_ += "}\n";
  } else {
    append_clf_start(buf_, r.client, r.start_unix_ms);
    buf_ += " \"STREAM ";
    clf_str(buf_, r.stream);
    std::snprintf(num, sizeof num, " TCP\" - %llu \"-\" \"-\" %.3f \"",
                  static_cast<unsigned long long>(r.bytes_sent), r.duration_ms / 1000.0);
    buf_ += num;
    clf_str(buf_, r.backend);
    buf_ += "\" \"";
    clf_str(buf_, r.end);
    buf_ += "\"\n";
  }
  if (buf_.size() >= 32 * 1024) flush();
}

void AccessLogBuffer::flush() {
  if (buf_.empty()) return;
  std::string chunk;
  chunk.reserve(buf_.capacity());
  chunk.swap(buf_);
  sink_.submit(std::move(chunk));
}

}  // namespace gh::proxy
