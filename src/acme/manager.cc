#include "acme/manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "acme/client.h"
#include "acme/http01_board.h"
#include "acme/keys.h"
#include "core/log.h"
#include "tls/certificates.h"
#include "tls/live_certificates.h"

namespace gh::acme {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxBackoff = std::chrono::hours(24);
constexpr milliseconds kDefaultFirstRetry = std::chrono::minutes(1);

// The first delay after a failure: GATEHOUSE_ACME_RETRY_MS (for tests, at
// least 10 ms), else one minute.
milliseconds first_retry() {
  const char* v = std::getenv("GATEHOUSE_ACME_RETRY_MS");
  if (v == nullptr || *v == '\0') return kDefaultFirstRetry;
  char* end = nullptr;
  long long ms = std::strtoll(v, &end, 10);
  if (*end != '\0' || ms < 10) return kDefaultFirstRetry;
  return std::min(milliseconds(ms), kMaxBackoff);
}

// "2026-11-30T19:42:00Z"
std::string iso(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string shown_delay(milliseconds d) {
  if (d < std::chrono::seconds(10)) return std::to_string(d.count()) + " ms";
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

// A directory for keys: created (with its parents) and set to 0700.
bool private_dir(const std::string& path, std::string& err) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    err = path + ": cannot create the directory: " + ec.message();
    return false;
  }
  if (::chmod(path.c_str(), 0700) != 0) {
    err = path + ": cannot set mode 0700: " + std::strerror(errno);
    return false;
  }
  return true;
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > (1u << 20)) return std::nullopt;
  return s;
}

// The answers to the CA's challenges: http-01 on the plain listener's
// board, tls-alpn-01 in the TLS listener's live certificates. `types` in
// order of preference.
class Solver : public ChallengeSolver {
 public:
  explicit Solver(std::vector<std::string> types) : types_(std::move(types)) {}
  std::vector<std::string> types() const override { return types_; }
  bool present(const Challenge& c, std::string& err) override {
    if (c.type == "http-01") {
      Http01Board::process().add(c.token, c.key_authorization);
      return true;
    }
    if (c.type == "tls-alpn-01") {
      auto ac = make_tls_alpn01_certificate(c.domain, c.key_authorization, err);
      if (!ac) return false;
      tls::CertKey ck{std::move(ac->cert), {}, std::move(ac->key)};
      return tls::LiveCertificates::process().set_challenge(c.domain, ck, err);
    }
    err = "challenge type " + c.type + " is not answered by gatehouse";
    return false;
  }
  void cleanup(const Challenge& c) override {
    if (c.type == "http-01") Http01Board::process().remove(c.token);
    else if (c.type == "tls-alpn-01") tls::LiveCertificates::process().clear_challenge(c.domain);
  }

 private:
  std::vector<std::string> types_;
};

}  // namespace

Manager::Manager() = default;

Manager::~Manager() { stop(); }

void Manager::stop() {
  {
    std::lock_guard lk(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Manager::apply(const config::Ssl& ssl, bool plain_listener) {
  Settings s;
  s.active = ssl.enabled && ssl.acme.has_value();
  if (ssl.acme) s.acme = *ssl.acme;
  s.plain_listener = plain_listener;
  s.cert_file = ssl.cert_file;
  if (!thread_.joinable()) {
    if (!s.active) return;
    // Before the listeners accept: a stored certificate serves the first handshake.
    take_settings(s);
    thread_ = std::thread([this] { run(); });
    return;
  }
  {
    std::lock_guard lk(mu_);
    pending_ = std::move(s);
  }
  cv_.notify_all();
}

std::string Manager::cert_dir(const std::string& domain) const {
  return (fs::path(cur_.acme.storage) / "certs" / domain).string();
}

void Manager::take_settings(const Settings& s) {
  cur_ = s;
  std::vector<std::string> wanted;
  if (s.active) wanted = s.acme.domains;
  tls::LiveCertificates& live = tls::LiveCertificates::process();
  for (const Name& n : names_) {
    if (std::find(wanted.begin(), wanted.end(), n.domain) == wanted.end() && n.have) {
      live.remove_certificate(n.domain);
      GH_INFO("acme: %s is no longer in ssl.acme.domains; its certificate no longer serves",
              n.domain.c_str());
    }
  }
  std::vector<Name> next;
  const Clock::time_point now = Clock::now();
  for (const std::string& d : wanted) {
    Name n;
    n.domain = d;
    // A failing name keeps its backoff across a reload.
    for (const Name& old : names_)
      if (old.domain == d) {
        n.next_try = old.next_try;
        n.backoff = old.backoff;
        n.alpn_first = old.alpn_first;
      }
    const std::string dir = cert_dir(d);
    const std::string cert_file = dir + "/cert.pem", key_file = dir + "/key.pem";
    std::error_code ec;
    if (fs::exists(cert_file, ec) && fs::exists(key_file, ec)) {
      std::string err;
      std::optional<tls::CertKey> ck = tls::load_cert_key(cert_file, key_file, err);
      std::optional<std::string> pem = read_small_file(cert_file);
      std::optional<Validity> v;
      if (ck && pem) v = parse_chain_validity(*pem, err);
      std::vector<std::string> names = ck ? tls::dns_names(ck->cert.get()) : std::vector<std::string>{};
      if (!ck || !v) {
        GH_WARN("acme: the stored certificate for %s is unusable (%s); ordering a new one",
                d.c_str(), err.c_str());
      } else if (std::find(names.begin(), names.end(), d) == names.end()) {
        GH_WARN("acme: the stored certificate %s does not name %s; ordering a new one",
                cert_file.c_str(), d.c_str());
      } else if (now >= v->not_after) {
        GH_WARN("acme: the stored certificate for %s expired at %s; ordering a new one", d.c_str(),
                iso(v->not_after).c_str());
      } else if (!live.set_certificate(*ck, cert_file, err)) {
        GH_WARN("acme: the stored certificate for %s cannot serve (%s); ordering a new one",
                d.c_str(), err.c_str());
      } else {
        n.have = true;
        n.not_before = v->not_before;
        n.not_after = v->not_after;
        GH_INFO("acme: serving the stored certificate for %s (valid until %s, renewal from %s)",
                d.c_str(), iso(n.not_after).c_str(), iso(n.renew_at()).c_str());
      }
    }
    if (!n.have) live.remove_certificate(d);
    next.push_back(std::move(n));
  }
  names_ = std::move(next);
}

bool Manager::ensure_client(std::string& err) {
  const config::Acme& a = cur_.acme;
  std::string key = a.directory + '\n' + a.ca_file + '\n' + a.email + '\n' + a.storage;
  if (client_ && key == client_key_) return true;
  client_.reset();
  if (!private_dir(a.storage, err) || !private_dir(a.storage + "/certs", err)) return false;
  const std::string path = a.storage + "/account.key";
  PkeyPtr account;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    account = load_private_key_file(path, err);
    if (!account) return false;
  } else {
    account = generate_ec_key();
    if (!account) {
      err = "cannot generate the account key";
      return false;
    }
    if (!save_private_key_file(path, account.get(), err)) return false;
    GH_INFO("acme: created the account key %s", path.c_str());
  }
  Options o;
  o.directory_url = a.directory;
  o.ca_file = a.ca_file;
  o.email = a.email;
  o.stop = &stop_;
  client_ = std::make_unique<Client>(std::move(o), std::move(account));
  client_key_ = std::move(key);
  return true;
}

void Manager::attempt(Name& n) {
  const std::string dir = cert_dir(n.domain);
  std::string err;
  bool ok = ensure_client(err) && private_dir(dir, err);
  std::optional<Issued> issued;
  PkeyPtr key;
  if (ok) {
    key = generate_ec_key();
    // http-01 first where a plain listener exists; after a failure the
    // other one first, in case the CA cannot reach that port.
    std::vector<std::string> types{"tls-alpn-01"};
    if (cur_.plain_listener) {
      types = {"http-01", "tls-alpn-01"};
      if (n.alpn_first) std::swap(types[0], types[1]);
    }
    GH_INFO("acme: ordering a certificate for %s from %s (%s)", n.domain.c_str(),
            cur_.acme.directory.c_str(), types.front().c_str());
    Solver solver(types);
    if (key) issued = client_->issue({n.domain}, key.get(), solver, err);
    else err = "cannot generate the certificate key";
    ok = issued.has_value();
  }
  if (stop_.load()) return;
  std::optional<tls::CertKey> ck;
  if (ok) {
    const std::string cert_file = dir + "/cert.pem", key_file = dir + "/key.pem";
    // The key first: a crash between the two leaves a pair that does not
    // match, which the next start reports and orders again.
    ok = save_private_key_file(key_file, key.get(), err) &&
         write_private_file(cert_file, issued->chain_pem, err);
    if (ok) {
      ck = tls::load_cert_key(cert_file, key_file, err);
      ok = ck && tls::LiveCertificates::process().set_certificate(*ck, cert_file, err);
    }
  }
  if (!ok) {
    n.alpn_first = !n.alpn_first;
    n.backoff = n.backoff.count() == 0 ? first_retry() : std::min(n.backoff * 2, kMaxBackoff);
    n.next_try = Clock::now() + n.backoff;
    // Say what clients get meanwhile: an operator reading this decides how urgent it is.
    const std::string serving =
        n.have ? "the previous ACME certificate keeps serving"
        : cur_.cert_file.empty() ? "the self-signed placeholder keeps serving (clients will not trust it)"
                                 : "the configured certificate " + cur_.cert_file + " keeps serving";
    GH_ERROR("acme: could not obtain a certificate for %s from %s: %s; %s; next attempt in %s",
             n.domain.c_str(), cur_.acme.directory.c_str(), err.c_str(), serving.c_str(),
             shown_delay(n.backoff).c_str());
    return;
  }
  n.have = true;
  n.not_before = issued->not_before;
  n.not_after = issued->not_after;
  n.backoff = milliseconds(0);
  n.next_try = {};
  GH_INFO("acme: certificate for %s issued and serving (valid until %s, renewal from %s)",
          n.domain.c_str(), iso(n.not_after).c_str(), iso(n.renew_at()).c_str());
}

void Manager::run() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (stop_.load()) return;
      if (pending_) {
        Settings s = std::move(*pending_);
        pending_.reset();
        lk.unlock();
        take_settings(s);
        continue;
      }
    }
    const Clock::time_point now = Clock::now();
    Name* due = nullptr;
    // Waking at least hourly keeps a wall-clock jump from delaying renewal long.
    Clock::time_point wake = now + std::chrono::hours(1);
    for (Name& n : names_) {
      Clock::time_point at = n.have ? n.renew_at() : now;
      at = std::max(at, n.next_try);
      if (at <= now) {
        due = &n;
        break;
      }
      wake = std::min(wake, at);
    }
    if (due) {
      attempt(*due);
      continue;
    }
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, wake - now, [this] { return stop_.load() || pending_.has_value(); });
  }
}

}  // namespace gh::acme
