#include "policy/jwks_source.h"

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "core/log.h"

namespace gh::policy {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct JwksSource::State {
  std::string url;
  milliseconds refresh{};
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;           // (mu) the source is gone: the thread ends
  bool kicked = false;         // (mu) fetch now
  uint64_t started = 0;        // (mu) fetches begun
  uint64_t kick_target = 0;    // (mu) the fetch an unknown kid waits for
  Clock::time_point last_kick{};   // (mu)
  Clock::time_point last_start{};  // (mu) when the last fetch began
  std::atomic<bool> abort{false};  // stop, for curl's progress callback
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> version{0};
  std::atomic<std::shared_ptr<const jose::KeySet>> keys;
};

namespace {

struct Fetched {
  long status = 0;
  std::string body;
  long max_age = -1;          // Cache-Control max-age of the final response, -1 = none
  bool too_large = false;
  std::string error;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* f = static_cast<Fetched*>(user);
  const size_t len = size * n;
  if (f->body.size() + len > kMaxJwksBytes) {
    f->too_large = true;
    return 0;   // aborts the transfer
  }
  f->body.append(p, len);
  return len;
}

// Cache-Control: max-age=N of the last response (redirects have their own).
size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* f = static_cast<Fetched*>(user);
  std::string line(p, size * n);
  for (char& c : line)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (line.starts_with("http/")) f->max_age = -1;   // a new response begins
  if (line.starts_with("cache-control:")) {
    if (line.find("no-store") != std::string::npos || line.find("no-cache") != std::string::npos) {
      f->max_age = 0;
    } else if (size_t at = line.find("max-age="); at != std::string::npos) {
      long v = 0;
      size_t i = at + 8, digits = 0;
      for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 9; ++i, ++digits)
        v = v * 10 + (line[i] - '0');
      if (digits > 0) f->max_age = v;
    }
  }
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;
}

Fetched fetch(const std::string& url, std::atomic<bool>& abort) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Fetched f;
  CURL* c = curl_easy_init();
  if (!c) {
    f.error = "curl_easy_init failed";
    return f;
  }
  const bool https = url.size() >= 8 && (url.compare(0, 8, "https://") == 0 || url.compare(0, 8, "HTTPS://") == 0);
  curl_slist* hdrs = curl_slist_append(nullptr, "Accept: application/jwk-set+json, application/json");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kFetchTimeoutMs);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxJwksBytes));
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "gatehouse/" GH_VERSION);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &abort);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
  if (f.too_large) f.error = "larger than 1 MiB";
  else if (rc != CURLE_OK) f.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  else if (f.status != 200) f.error = "status " + std::to_string(f.status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return f;
}

// How long until the next fetch after a good one: the configured refresh,
// sooner when the IdP's max-age says its keys may change sooner (but never
// more often than every 30 s).
milliseconds next_after_success(const JwksSource::State& st, long max_age) {
  if (max_age < 0) return st.refresh;
  return std::min(st.refresh, std::max(milliseconds(30'000), milliseconds(max_age * 1000)));
}

// Fetch threads still running, for stop_all() to wait on.
std::mutex g_threads_mu;
std::condition_variable g_threads_cv;
size_t g_threads = 0;

void fetch_loop(const std::shared_ptr<JwksSource::State>& st);

void run(std::shared_ptr<JwksSource::State> st) {
  fetch_loop(st);
  st.reset();
  // OpenSSL's per-thread state (curl used it) is freed now, not by a
  // thread-exit hook racing the process's exit.
  OPENSSL_thread_stop();
  std::lock_guard lock(g_threads_mu);
  --g_threads;
  g_threads_cv.notify_all();
}

void fetch_loop(const std::shared_ptr<JwksSource::State>& st) {
  milliseconds backoff(2'000);
  for (;;) {
    {
      std::lock_guard lock(st->mu);
      if (st->stop) return;
      st->kicked = false;
      ++st->started;
      st->last_start = Clock::now();
    }
    Fetched f = fetch(st->url, st->abort);
    milliseconds next;
    if (f.error.empty()) {
      jose::JwksParse p = jose::parse_jwks(f.body);
      if (p.keys) {
        const size_t n = p.keys->keys.size();
        st->keys.store(std::move(p.keys));
        st->version.fetch_add(1);
        GH_INFO("jwt: %zu keys from %s", n, st->url.c_str());
        backoff = milliseconds(2'000);
        next = next_after_success(*st, f.max_age);
      } else {
        f.error = p.error;
      }
    }
    if (!f.error.empty()) {
      GH_WARN("jwt: fetching %s failed (%s); %s", st->url.c_str(), f.error.c_str(),
              st->keys.load() ? "keeping the keys held" : "no keys yet: tokens cannot be verified");
      next = std::min(backoff, st->refresh);
      backoff = std::min(backoff * 2, milliseconds(60'000));
    }
    st->done.fetch_add(1);
    std::unique_lock lock(st->mu);
    st->cv.wait_for(lock, next, [&] { return st->stop || st->kicked; });
    if (st->stop) return;
  }
}

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<JwksSource>> g_registry;

}  // namespace

std::shared_ptr<JwksSource> JwksSource::get(const std::string& url, milliseconds refresh) {
  std::lock_guard lock(g_registry_mu);
  const std::string key = std::to_string(refresh.count()) + " " + url;
  if (auto live = g_registry[key].lock()) {
    // (Every route of one config asks for the same URL: only a source whose
    // last fetch is not just starting is asked again, so a load or reload
    // makes one fetch, not one per route.)
    std::lock_guard l(live->st_->mu);
    if (live->st_->started == 0 || Clock::now() - live->st_->last_start > milliseconds(500)) {
      live->st_->kicked = true;
      live->st_->cv.notify_one();
    }
    return live;
  }
  auto st = std::make_shared<State>();
  st->url = url;
  st->refresh = refresh;
  std::shared_ptr<JwksSource> src(new JwksSource(st));
  // Detached: the thread owns its state and ends at its next look at `stop`
  // (curl aborts a transfer in progress), so dropping the last policy that
  // uses a URL never blocks a worker on a slow IdP.
  {
    std::lock_guard l(g_threads_mu);
    ++g_threads;
  }
  std::thread(run, std::move(st)).detach();
  g_registry[key] = src;
  return src;
}

JwksSource::~JwksSource() {
  std::lock_guard lock(st_->mu);
  st_->stop = true;
  st_->abort = true;
  st_->cv.notify_one();
}

std::shared_ptr<const jose::KeySet> JwksSource::keys() const { return st_->keys.load(); }
uint64_t JwksSource::version() const { return st_->version.load(); }
uint64_t JwksSource::fetches_done() const { return st_->done.load(); }

uint64_t JwksSource::refetch_for_unknown_kid() {
  std::lock_guard lock(st_->mu);
  if (st_->kick_target > st_->done.load()) return st_->kick_target;   // asked for already
  const auto now = Clock::now();
  if (st_->last_kick != Clock::time_point{} && now - st_->last_kick < milliseconds(kKidRefetchMs)) return 0;
  st_->last_kick = now;
  st_->kicked = true;
  st_->kick_target = st_->started + 1;
  st_->cv.notify_one();
  return st_->kick_target;
}

bool JwksSource::stop_all(milliseconds wait) {
  {
    std::lock_guard lock(g_registry_mu);
    for (auto& [key, weak] : g_registry) {
      if (auto live = weak.lock()) {
        std::lock_guard l(live->st_->mu);
        live->st_->stop = true;
        live->st_->abort.store(true);
        live->st_->cv.notify_one();
      }
    }
  }
  std::unique_lock lock(g_threads_mu);
  return g_threads_cv.wait_for(lock, wait, [] { return g_threads == 0; });
}

}  // namespace gh::policy
