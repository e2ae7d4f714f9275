// basic_auth (RFC 7617): users from an Apache htpasswd file, checked with
// libcrypt on the blocking pool. A verified credential is remembered per
// worker thread until kCacheMs without use, so bcrypt (slow by design) does not run on
// every request of a logged-in browser. The client's Authorization field is
// never sent upstream: it is a credential for us, not for the backend.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>
#include <string>
#include <unordered_map>

#include "policy/blocking.h"
#include "policy/kinds.h"
#include "policy/password.h"

namespace gh::policy {
namespace {

// How long a verified credential stays trusted after its last use. Idle, not
// absolute: a credential can only stop being valid through a reload, which
// builds a new policy (new id) whose cache starts empty; an absolute expiry
// would only make every busy client pay a bcrypt again each minute, all its
// connections at once.
constexpr int64_t kCacheMs = 60'000;
constexpr size_t kCacheEntries = 4096;     // per worker thread; full: start over
constexpr size_t kMaxCredential = 4096;    // decoded "user:password" bytes
// Password checks waiting or running on the blocking pool, process-wide.
// Beyond this a flood of guesses would only lengthen everyone's wait (each
// bcrypt takes tens of ms): further checks are refused at once with 503.
constexpr int kMaxPendingChecks = 256;
std::atomic<int> g_pending_checks{0};

std::atomic<uint64_t> g_next_basic_auth_id{1};

// Per worker thread: SHA-256(policy id, Authorization value) -> verified
// until (steady ms). A digest, so the map holds no password.
using Key = std::array<unsigned char, 32>;
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h;
    std::memcpy(&h, k.data(), sizeof h);   // already uniformly distributed
    return h;
  }
};
thread_local std::unordered_map<Key, int64_t, KeyHash> tl_verified;

// Per worker thread: the checks running now, so that a credential sent by
// many requests at once (a browser's parallel fetches, a client's first
// burst) is hashed once and the others wait for that result.
struct Inflight {
  bool ok = false;
  bool busy = false;   // refused for load (503), not for the password
  std::vector<net::asio::steady_timer*> waiters;
};
thread_local std::unordered_map<Key, std::shared_ptr<Inflight>, KeyHash> tl_inflight;

// SHA-256 fetched once and a digest context per thread: the lookup and the
// context set-up would otherwise cost more than the hashing itself.
Key digest(uint64_t id, std::string_view value) {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Key k{};
  unsigned int n = 0;
  EVP_DigestInit_ex2(ctx.get(), md, nullptr);
  EVP_DigestUpdate(ctx.get(), &id, sizeof id);
  EVP_DigestUpdate(ctx.get(), value.data(), value.size());
  EVP_DigestFinal_ex(ctx.get(), k.data(), &n);
  return k;
}

// Standard base64 (RFC 4648 4) through OpenSSL; nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > kMaxCredential * 4 / 3 + 4) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

class BasicAuth final : public Policy {
 public:
  explicit BasicAuth(const config::BasicAuth& c) : id_(g_next_basic_auth_id++) {
    challenge_ = "Basic realm=\"" + c.realm + "\"";   // exactly as the contract shows
    for (const auto& u : c.users) users_.emplace(u.user, u.hash);
    if (!c.users.empty()) dummy_hash_ = c.users.front().hash;
  }
  const char* name() const override { return "basic_auth"; }
  bool acts_on_request() const override { return true; }
  void static_upstream_edits(FieldEdits& out) const override { out.remove("authorization"); }

  Verdict on_request(Exchange& ex) const override {
    bool found = false;
    std::string_view auth = http::find_field(ex.request->fields, "authorization", &found);
    if (!found) return refuse(ex, "basic_auth: no credentials");
    // Consumed here: later policies (forward_auth's sub-request) must not
    // pass the password on either (the static edit covers the backend).
    ex.upstream.remove("authorization");
    if (auth.size() < 6 || !http::iequals(auth.substr(0, 6), "basic ")) {
      return refuse(ex, "basic_auth: not Basic credentials");
    }
    std::string_view b64 = auth.substr(6);
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    // The cache is keyed by the credential as sent: a hit needs no decoding.
    const Key key = digest(id_, b64);
    auto it = tl_verified.find(key);
    if (it != tl_verified.end() && it->second > ex.now_ms) {
      it->second = ex.now_ms + kCacheMs;
      return Verdict::next;
    }
    auto cred = decode_base64(b64);
    if (!cred || cred->find(':') == std::string::npos) {
      return refuse(ex, "basic_auth: malformed credentials");
    }
    // For resume: the cache key, then "user:password".
    ex.pending.assign(key.begin(), key.end());
    ex.pending += *cred;
    return Verdict::suspend;
  }

  net::awaitable<Verdict> resume(Exchange& ex) const override {
    Key key;
    std::memcpy(key.data(), ex.pending.data(), key.size());
    std::string cred = ex.pending.substr(key.size());
    OPENSSL_cleanse(ex.pending.data(), ex.pending.size());
    ex.pending.clear();
    if (auto it = tl_inflight.find(key); it != tl_inflight.end()) {
      // The same credential is being checked for another request: its
      // result is this one's too.
      std::shared_ptr<Inflight> inf = it->second;
      OPENSSL_cleanse(cred.data(), cred.size());
      net::asio::steady_timer t(co_await net::asio::this_coro::executor);
      t.expires_at(net::asio::steady_timer::time_point::max());
      inf->waiters.push_back(&t);
      co_await t.async_wait(net::nothrow);
      if (inf->busy) co_return busy(ex);
      if (!inf->ok) co_return refuse(ex, "basic_auth: wrong user name or password");
      co_return Verdict::next;
    }
    auto inf = std::make_shared<Inflight>();
    tl_inflight.emplace(key, inf);
    // Whatever the outcome, the waiters learn it and the entry goes.
    struct Settle {
      const Key& key;
      Inflight& inf;
      ~Settle() {
        tl_inflight.erase(key);
        for (auto* t : inf.waiters) t->cancel();
      }
    } settle{key, *inf};
    size_t colon = cred.find(':');
    std::string user = cred.substr(0, colon);
    auto it = users_.find(user);
    const bool known = it != users_.end();
    // An unknown user costs a verification too, so response times do not
    // tell which user names exist.
    std::string hash = known ? it->second : dummy_hash_;
    std::string password = cred.substr(colon + 1);
    bool ok = false;
    if (g_pending_checks.fetch_add(1, std::memory_order_relaxed) >= kMaxPendingChecks) {
      g_pending_checks.fetch_sub(1, std::memory_order_relaxed);
      inf->busy = true;
      co_return busy(ex);
    }
    struct Pending {
      ~Pending() { g_pending_checks.fetch_sub(1, std::memory_order_relaxed); }
    } pending_guard;
    if (!hash.empty()) {
      // (A named task, not a temporary in the co_await: GCC 12 destroys
      // such temporaries twice.)
      auto task = [hash, password]() { return verify_password(password, hash); };
      ok = co_await run_blocking(std::move(task));
    }
    if (!ok || !known) co_return refuse(ex, "basic_auth: wrong user name or password");
    if (tl_verified.size() >= kCacheEntries) tl_verified.clear();
    tl_verified[key] = ex.now_ms + kCacheMs;
    inf->ok = true;
    co_return Verdict::next;
  }

 private:
  static Verdict busy(Exchange& ex) {
    Answer a;
    a.status = 503;
    a.details = "basic_auth: too many password checks waiting";
    a.fields.emplace_back("Retry-After", "1");
    ex.answer = std::move(a);
    return Verdict::answered;
  }
  Verdict refuse(Exchange& ex, const char* why) const {
    Answer a;
    a.status = 401;
    a.details = why;
    a.fields.emplace_back("WWW-Authenticate", challenge_);
    ex.answer = std::move(a);
    return Verdict::answered;
  }

  uint64_t id_;   // tells this policy's cache entries from another's (and a reloaded one's)
  std::string challenge_;
  std::unordered_map<std::string, std::string> users_;
  std::string dummy_hash_;
};

}  // namespace

std::unique_ptr<Policy> make_basic_auth(const config::BasicAuth& conf) {
  return std::make_unique<BasicAuth>(conf);
}

}  // namespace gh::policy
