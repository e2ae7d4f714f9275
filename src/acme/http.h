// One blocking HTTPS request to the ACME server through libcurl: bounded
// (connect and total timeouts, response size), cancellable (a stop flag
// polled by curl's progress callback), no redirects (RFC 8555 needs none).
// Internal to src/acme.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gh::acme {

struct HttpOptions {
  std::string ca_file;            // CURLOPT_CAINFO when not empty
  std::string user_agent;
  long timeout_ms = 30000;
  long connect_timeout_ms = 10000;
  std::atomic<bool>* stop = nullptr;
};

struct HttpResponse {
  long status = 0;                // 0 when no response came (see error)
  std::vector<std::pair<std::string, std::string>> headers;   // names lower-cased, final response only
  std::string body;
  std::string error;              // transport failure ("Connection refused", "cancelled", ...)

  // The first header named `name` (lower case), "" when absent.
  std::string header(std::string_view name) const;
};

// The largest response body accepted (a certificate chain is a few KiB).
inline constexpr size_t kMaxResponseBytes = 1024 * 1024;

// method: "GET", "HEAD" or "POST" (with `body` as `content_type`).
// `accept` sets the Accept header when not empty.
HttpResponse http_request(const HttpOptions& options, const std::string& method, const std::string& url,
                          const std::string& body = {}, const std::string& content_type = {},
                          const std::string& accept = {});

}  // namespace gh::acme
