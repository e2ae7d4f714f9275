#include "acme/http.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace gh::acme {

namespace {

struct Transfer {
  HttpResponse* r;
  bool too_large = false;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->r->body.size() + len > kMaxResponseBytes) {
    t->too_large = true;
    return 0;   // aborts the transfer
  }
  t->r->body.append(p, len);
  return len;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(p, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/") || line.starts_with("http/")) {
    t->r->headers.clear();   // a new response (after a 100 Continue) begins
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || t->r->headers.size() >= 200) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->r->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* stop = static_cast<std::atomic<bool>*>(user);
  return stop && stop->load() ? 1 : 0;
}

struct SlistFree {
  void operator()(curl_slist* p) const { curl_slist_free_all(p); }
};
struct EasyFree {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
};

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return {};
}

HttpResponse http_request(const HttpOptions& o, const std::string& method, const std::string& url,
                          const std::string& body, const std::string& content_type, const std::string& accept) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpResponse r;
  if (o.stop && o.stop->load()) {
    r.error = "cancelled";
    return r;
  }
  std::unique_ptr<CURL, EasyFree> c(curl_easy_init());
  if (!c) {
    r.error = "curl_easy_init failed";
    return r;
  }
  std::unique_ptr<curl_slist, SlistFree> hdrs;
  auto add = [&](const std::string& h) { hdrs.reset(curl_slist_append(hdrs.release(), h.c_str())); };
  if (!content_type.empty()) add("Content-Type: " + content_type);
  if (!accept.empty()) add("Accept: " + accept);
  add("Expect:");   // no 100-continue round trip for small JWS bodies
  Transfer t{&r};
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* e = c.get();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);   // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o.timeout_ms);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
  if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.user_agent.empty()) curl_easy_setopt(e, CURLOPT_USERAGENT, o.user_agent.c_str());
  if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, o.stop);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    r.error = "cancelled";
  } else if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    r.error = "response larger than " + std::to_string(kMaxResponseBytes) + " bytes";
  } else if (rc != CURLE_OK) {
    r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  }
  if (!r.error.empty()) r.status = 0;
  return r;
}

}  // namespace gh::acme
