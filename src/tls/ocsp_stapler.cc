#include "tls/ocsp_stapler.h"

#include <curl/curl.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"
#include "tls/ex_data.h"
#include "tls/ocsp_response.h"
#include "tls/ossl.h"

namespace gh::tls {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;  // real responses are 1-4 KiB
constexpr long kConnectTimeoutMs = 5000;
constexpr long kFetchTimeoutMs = 10000;
constexpr milliseconds kMinRefresh{60 * 1000};
constexpr milliseconds kMaxRefresh{24 * 3600 * 1000};
constexpr milliseconds kNoNextUpdateRefresh{3600 * 1000};
constexpr milliseconds kFirstRetry{60 * 1000};
constexpr milliseconds kMaxRetry{3600 * 1000};
// A response without nextUpdate is stapled at most this long after its thisUpdate.
constexpr time_t kNoNextUpdateLifetimeS = 7 * 24 * 3600;

// GATEHOUSE_OCSP_REFRESH_MS, for tests: every refresh and retry interval.
milliseconds test_interval() {
  static const milliseconds v = [] {
    const char* s = std::getenv("GATEHOUSE_OCSP_REFRESH_MS");
    long n = s ? std::strtol(s, nullptr, 10) : 0;
    return milliseconds(n >= 100 ? n : 0);
  }();
  return v;
}

std::string fingerprint(X509* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  X509_digest(c, EVP_sha256(), md, &n);
  return std::string(reinterpret_cast<char*>(md), n);
}

X509Ptr ref(X509* c) {
  X509_up_ref(c);
  return X509Ptr(c);
}

std::string format_time(time_t t) {
  if (t == 0) return "none";
  char buf[32];
  struct tm tm {};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Fetch {
  std::string body;
  long status = 0;
  std::string error;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* f = static_cast<Fetch*>(user);
  size_t len = size * n;
  if (f->body.size() + len > kMaxResponseBytes) return 0;  // aborts the transfer
  f->body.append(p, len);
  return len;
}

// POSTs the request (RFC 6960 A.1) and returns the answer's body. Blocks up
// to kFetchTimeoutMs: only the stapler's own thread calls it.
Fetch post(const std::string& url, const std::string& request) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Fetch f;
  CURL* c = curl_easy_init();
  if (!c) {
    f.error = "curl_easy_init failed";
    return f;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* hdrs = curl_slist_append(nullptr, "Content-Type: application/ocsp-request");
  hdrs = curl_slist_append(hdrs, "Accept: application/ocsp-response");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kFetchTimeoutMs);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "gatehouse/" GH_VERSION);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
  if (rc != CURLE_OK) {
    f.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  } else if (f.status != 200) {
    f.error = "HTTP status " + std::to_string(f.status);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return f;
}

}  // namespace

// One watched certificate and its current staple. Shared by every SSL_CTX
// serving that certificate (across reloads); the stapler thread refreshes it.
class Staple {
 public:
  Staple(X509* leaf, X509* issuer, std::string url, std::string label, std::string key)
      : leaf_(ref(leaf)), issuer_(ref(issuer)), url_(std::move(url)), label_(std::move(label)),
        key_(std::move(key)) {}

  // The response to staple now, or null (none, or the one held has expired).
  std::shared_ptr<const std::string> current() const {
    time_t now = std::time(nullptr);
    std::lock_guard lk(mu_);
    if (!der_ || now > stale_at_) return nullptr;
    return der_;
  }

 private:
  friend class Stapler;
  void set(std::shared_ptr<const std::string> der, time_t stale_at) {
    std::lock_guard lk(mu_);
    der_ = std::move(der);
    stale_at_ = stale_at;
  }

  const X509Ptr leaf_, issuer_;
  const std::string url_, label_, key_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::string> der_;  // last good response, DER
  time_t stale_at_ = 0;                     // not stapled after this (epoch seconds)
  // The stapler thread's own bookkeeping (under Stapler::mu_).
  Steady::time_point due_{};
  milliseconds retry_{0};
  std::string last_state_;                  // what was last logged
};

// The process's stapler: the registry of watched certificates and the one
// thread fetching for all of them, in the order they fall due.
class Stapler {
 public:
  static Stapler& process() {
    static Stapler* s = new Stapler();  // never destroyed: the thread may outlive main
    return *s;
  }

  std::shared_ptr<Staple> watch(X509* leaf, X509* issuer, const std::string& url,
                                const std::string& label) {
    std::string key = fingerprint(leaf) + fingerprint(issuer) + url;
    std::lock_guard lk(mu_);
    for (const auto& w : staples_) {
      if (auto s = w.lock(); s && s->key_ == key) return s;  // kept over a reload
    }
    auto s = std::make_shared<Staple>(leaf, issuer, url, label, key);
    s->due_ = Steady::now();
    staples_.push_back(s);
    if (!started_) {
      started_ = true;
      std::thread([this] { run(); }).detach();
    }
    cv_.notify_one();
    return s;
  }

 private:
  void run() {
    for (;;) {
      std::shared_ptr<Staple> next;
      {
        std::unique_lock lk(mu_);
        for (;;) {
          std::erase_if(staples_, [](const std::weak_ptr<Staple>& w) { return w.expired(); });
          Steady::time_point earliest = Steady::time_point::max();
          for (const auto& w : staples_) {
            auto s = w.lock();
            if (s && s->due_ < earliest) {
              earliest = s->due_;
              next = std::move(s);
            }
          }
          if (next && earliest <= Steady::now()) break;
          next.reset();
          if (earliest == Steady::time_point::max()) {
            cv_.wait(lk);
          } else {
            cv_.wait_until(lk, earliest);
          }
        }
      }
      milliseconds wait = refresh(*next);
      std::lock_guard lk(mu_);
      next->due_ = Steady::now() + wait;
    }
  }

  // Logs `state` for `s` unless it is what was logged last.
  static bool changed(Staple& s, const std::string& state) {
    if (s.last_state_ == state) return false;
    s.last_state_ = state;
    return true;
  }

  // One fetch and check; returns the wait before the next one. Runs without
  // mu_ (only this thread touches the bookkeeping fields).
  static milliseconds refresh(Staple& s) {
    milliseconds fixed = test_interval();
    std::string req = ocsp_request_der(s.leaf_.get(), s.issuer_.get());
    Fetch f;
    if (req.empty()) {
      f.error = "cannot build the OCSP request";
    } else {
      f = post(s.url_, req);
    }
    OcspCheck check;
    if (f.error.empty()) check = check_ocsp_response(f.body, s.leaf_.get(), s.issuer_.get());
    time_t now = std::time(nullptr);
    if (f.error.empty() && check.status == OcspCheck::Status::good) {
      time_t stale = check.next_update ? check.next_update
                                       : check.this_update + kNoNextUpdateLifetimeS;
      s.set(std::make_shared<const std::string>(std::move(f.body)), stale);
      s.retry_ = milliseconds(0);
      if (changed(s, "good"))
        GH_INFO("OCSP: stapling a good response for %s from %s (next update %s)", s.label_.c_str(),
                s.url_.c_str(), format_time(check.next_update).c_str());
      if (fixed.count()) return fixed;
      if (check.next_update == 0) return kNoNextUpdateRefresh;
      milliseconds half(std::max<long long>(0, (check.next_update - now) * 1000LL / 2));
      return std::clamp(half, kMinRefresh, kMaxRefresh);
    }
    if (f.error.empty() && check.status != OcspCheck::Status::invalid) {
      // A valid answer that the certificate is revoked or unknown: never staple it.
      s.set(nullptr, 0);
      s.retry_ = milliseconds(0);
      if (changed(s, check.why))
        GH_ERROR("OCSP: %s: %s according to %s; served without a staple", s.label_.c_str(),
                 check.why.c_str(), s.url_.c_str());
      return fixed.count() ? fixed : kNoNextUpdateRefresh;
    }
    // No usable answer: a response held from before stays while it is fresh.
    std::string why = f.error.empty() ? "unusable response: " + check.why : "fetch failed: " + f.error;
    s.retry_ = s.retry_.count() ? std::min(s.retry_ * 2, kMaxRetry) : kFirstRetry;
    milliseconds wait = fixed.count() ? fixed : s.retry_;
    if (changed(s, why))
      GH_WARN("OCSP: %s: %s (%s); %s; retrying in %.1f s", s.label_.c_str(), why.c_str(),
              s.url_.c_str(),
              s.current() ? "the previous response stays stapled until it expires"
                          : "served without a staple",
              static_cast<double>(wait.count()) / 1000.0);
    return wait;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<Staple>> staples_;
  bool started_ = false;
};

namespace {

// What an SSL_CTX holds (ex_data): its certificate's staple.
struct StapleHandle {
  std::shared_ptr<Staple> staple;
};

// Server side of status_request: OpenSSL calls this on the context serving
// the handshake (after the SNI switch). No staple: the extension is not
// acknowledged and the handshake goes on.
int on_status_request(SSL* ssl, void* arg) {
  const auto* h = static_cast<const StapleHandle*>(arg);
  std::shared_ptr<const std::string> der = h ? h->staple->current() : nullptr;
  if (!der) return SSL_TLSEXT_ERR_NOACK;
  auto* buf = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (buf == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(buf, der->data(), der->size());
  if (SSL_set_tlsext_status_ocsp_resp(ssl, buf, static_cast<long>(der->size())) != 1) {
    OPENSSL_free(buf);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

bool enable_ocsp_stapling(SSL_CTX* ctx, X509* leaf, X509* issuer, const std::string& label) {
  if (ctx == nullptr || leaf == nullptr || issuer == nullptr) return false;
  std::string url = ocsp_responder_url(leaf);
  if (url.empty()) return false;
  auto handle = std::make_unique<StapleHandle>();
  handle->staple = Stapler::process().watch(leaf, issuer, url, label);
  StapleHandle* h = handle.get();
  if (!ctx_attach(ctx, std::move(handle))) return false;
  SSL_CTX_set_tlsext_status_cb(ctx, on_status_request);
  SSL_CTX_set_tlsext_status_arg(ctx, h);
  return true;
}

bool enable_ocsp_stapling(SSL_CTX* ctx, const std::string& label) {
  X509* leaf = ctx ? SSL_CTX_get0_certificate(ctx) : nullptr;
  if (leaf == nullptr || ocsp_responder_url(leaf).empty()) return false;
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  if (chain == nullptr || sk_X509_num(chain) == 0) SSL_CTX_get_extra_chain_certs(ctx, &chain);
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    X509* c = sk_X509_value(chain, i);
    if (X509_check_issued(c, leaf) == X509_V_OK) return enable_ocsp_stapling(ctx, leaf, c, label);
  }
  GH_INFO("OCSP: %s names a responder but its issuer is not in the chain; no stapling (add the "
          "issuing certificate after the leaf)",
          label.c_str());
  return false;
}

std::string ocsp_staple_for(SSL_CTX* ctx) {
  const StapleHandle* h = ctx ? ctx_get<StapleHandle>(ctx) : nullptr;
  std::shared_ptr<const std::string> der = h ? h->staple->current() : nullptr;
  return der ? *der : std::string();
}

}  // namespace gh::tls
