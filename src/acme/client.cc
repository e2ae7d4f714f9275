#include "acme/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "acme/http.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "jose/base64url.h"

namespace gh::acme {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* kBadNonce = "urn:ietf:params:acme:error:badNonce";

std::string str(const json& j, const char* name) {
  if (!j.is_object()) return {};
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json parse(const std::string& body) {
  return json::parse(body, nullptr, /*allow_exceptions=*/false);
}

// RFC 8555 8.3: a token is base64url characters only. Anything else is
// refused before it reaches a responder (it becomes a URL path segment).
bool valid_token(const std::string& t) {
  if (t.empty() || t.size() > 256) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; -1 when
// absent or unreadable.
long retry_after_ms(const HttpResponse& r) {
  const std::string v = r.header("retry-after");
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 6) return 86400L * 1000;
    return std::stol(v) * 1000;
  }
  const time_t at = curl_getdate(v.c_str(), nullptr);
  if (at < 0) return -1;
  const time_t now = std::time(nullptr);
  return at > now ? static_cast<long>(at - now) * 1000 : 0;
}

}  // namespace

struct Client::Impl {
  Options o;
  PkeyPtr key;
  HttpOptions http;
  json dir;                 // the directory, once fetched
  std::string nonce;        // the next one to use, "" when none is held
  std::string kid;          // the account URL
  std::string thumb;

  bool jws_alg_missing() const { return jws_alg(key.get()).empty(); }

  bool stopped() const { return o.stop && o.stop->load(); }

  // Sleeps `ms`, waking early (false) when stopped.
  bool sleep_ms(long ms) {
    const auto until = SteadyClock::now() + milliseconds(ms);
    while (SteadyClock::now() < until) {
      if (stopped()) return false;
      std::this_thread::sleep_for(std::min(milliseconds(50), std::chrono::duration_cast<milliseconds>(
                                                                 until - SteadyClock::now())));
    }
    return !stopped();
  }

  bool fetch_directory(std::string& err) {
    if (!dir.is_null()) return true;
    HttpResponse r = http_request(http, "GET", o.directory_url, {}, {}, "application/json");
    if (!r.error.empty()) {
      err = "directory " + o.directory_url + ": " + r.error;
      return false;
    }
    if (r.status != 200) {
      err = describe_problem("directory " + o.directory_url, r.status, r.body);
      return false;
    }
    json j = parse(r.body);
    for (const char* k : {"newNonce", "newAccount", "newOrder"}) {
      if (str(j, k).empty()) {
        err = "directory " + o.directory_url + ": no \"" + k + "\" URL (not an ACME directory?)";
        return false;
      }
    }
    dir = std::move(j);
    return true;
  }

  bool fresh_nonce(std::string& err) {
    HttpResponse r = http_request(http, "HEAD", str(dir, "newNonce"));
    if (!r.error.empty()) {
      err = "newNonce: " + r.error;
      return false;
    }
    nonce = r.header("replay-nonce");
    if (r.status / 100 != 2 || nonce.empty()) {
      err = "newNonce: HTTP " + std::to_string(r.status) + " without a Replay-Nonce";
      return false;
    }
    return true;
  }

  // A signed POST (RFC 8555 6.2) to `url`: with the jwk for newAccount
  // (`use_jwk`), else the kid. payload nullopt: POST-as-GET. A badNonce
  // refusal is retried with the nonce that refusal carried (6.5). A non-2xx
  // answer becomes err, described from its problem document.
  std::optional<HttpResponse> post(const std::string& step, const std::string& url,
                                   const std::optional<std::string>& payload, std::string& err,
                                   bool use_jwk = false, const std::string& accept = {}) {
    if (url.empty()) {
      err = step + ": the CA gave no URL for it";
      return std::nullopt;
    }
    for (int attempt = 0;; ++attempt) {
      if (stopped()) {
        err = step + ": cancelled";
        return std::nullopt;
      }
      if (nonce.empty() && !fresh_nonce(err)) return std::nullopt;
      std::string why;
      auto body = sign_jws(key.get(), use_jwk ? std::string() : kid, nonce, url, payload, why);
      nonce.clear();   // each nonce is good for one request
      if (!body) {
        err = step + ": " + why;
        return std::nullopt;
      }
      HttpResponse r = http_request(http, "POST", url, *body, "application/jose+json", accept);
      if (!r.error.empty()) {
        err = step + ": " + r.error;
        return std::nullopt;
      }
      if (std::string n = r.header("replay-nonce"); !n.empty()) nonce = std::move(n);
      if (r.status / 100 == 2) return r;
      if (attempt < o.bad_nonce_retries && problem_type(r.body) == kBadNonce) continue;
      err = describe_problem(step, r.status, r.body);
      return std::nullopt;
    }
  }

  // POST `payload` (or POST-as-GET) and read the answer as a JSON object.
  std::optional<std::pair<HttpResponse, json>> post_json(const std::string& step, const std::string& url,
                                                         const std::optional<std::string>& payload,
                                                         std::string& err, bool use_jwk = false) {
    auto r = post(step, url, payload, err, use_jwk);
    if (!r) return std::nullopt;
    json j = parse(r->body);
    if (!j.is_object()) {
      err = step + ": the answer is not a JSON object: " + printable(r->body);
      return std::nullopt;
    }
    return std::make_pair(std::move(*r), std::move(j));
  }

  // POST-as-GET `url` until its "status" is neither pending nor processing,
  // waiting as Retry-After says (else 250 ms doubling to 5 s), at most
  // poll_timeout_ms in all.
  std::optional<json> poll(const std::string& step, const std::string& url, std::string& err) {
    const auto deadline = SteadyClock::now() + milliseconds(o.poll_timeout_ms);
    long backoff = 250;
    for (;;) {
      auto got = post_json(step, url, std::nullopt, err);
      if (!got) return std::nullopt;
      const std::string status = str(got->second, "status");
      if (status != "pending" && status != "processing") return std::move(got->second);
      long wait = retry_after_ms(got->first);
      if (wait < 0) {
        wait = backoff;
        backoff = std::min(backoff * 2, 5000L);
      }
      wait = std::max(wait, 100L);
      const long left =
          std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
      if (left <= 0) {
        err = step + ": still " + status + " after " + std::to_string(o.poll_timeout_ms) + " ms";
        return std::nullopt;
      }
      if (!sleep_ms(std::min(wait, left))) {
        err = step + ": cancelled";
        return std::nullopt;
      }
    }
  }

  // One authorization (RFC 8555 7.5): nothing to do when already valid;
  // else one challenge through the solver, then poll until final.
  bool authorize(const std::string& url, ChallengeSolver& solver, std::string& err) {
    auto got = post_json("authorization " + url, url, std::nullopt, err);
    if (!got) return false;
    const json& a = got->second;
    const std::string domain = a.contains("identifier") ? str(a["identifier"], "value") : std::string();
    const std::string step = "authorization " + (domain.empty() ? url : printable(domain));
    const std::string status = str(a, "status");
    if (status == "valid") return true;
    if (status != "pending") {
      err = step + ": " + printable(status.empty() ? "(no status)" : status);
      return false;
    }
    static const json kNone = json::array();
    const json& challenges =
        a.contains("challenges") && a["challenges"].is_array() ? a["challenges"] : kNone;
    std::vector<std::string> offered;
    const json* chosen = nullptr;
    for (const json& c : challenges) offered.push_back(printable(str(c, "type"), 40));
    for (const std::string& want : solver.types()) {
      for (const json& c : challenges)
        if (str(c, "type") == want) {
          chosen = &c;
          break;
        }
      if (chosen) break;
    }
    if (!chosen) {
      err = step + ": the CA offers [" + join(offered) + "], this server answers [" + join(solver.types()) + "]";
      return false;
    }
    Challenge ch;
    ch.type = str(*chosen, "type");
    ch.domain = lower(domain);
    ch.token = str(*chosen, "token");
    ch.url = str(*chosen, "url");
    if (!valid_token(ch.token) || ch.url.empty()) {
      err = step + ": the " + ch.type + " challenge has a malformed token or no url";
      return false;
    }
    ch.key_authorization = ch.token + "." + thumb;

    // The solver's cleanup runs whatever happens from here on.
    struct Cleanup {
      ChallengeSolver& s;
      const Challenge& c;
      ~Cleanup() { s.cleanup(c); }
    } cleanup{solver, ch};
    std::string why;
    if (!solver.present(ch, why)) {
      err = step + ": " + ch.type + " cannot be presented: " + why;
      return false;
    }
    // RFC 8555 7.5.1: an empty object says "validate now".
    if (!post(step + ": " + ch.type + " challenge", ch.url, std::string("{}"), err)) return false;
    auto final_authz = poll(step, url, err);
    if (!final_authz) return false;
    const std::string end = str(*final_authz, "status");
    if (end == "valid") return true;
    // Why: the error of the challenge tried (RFC 8555 7.1.5).
    err = step + ": " + printable(end);
    if (final_authz->contains("challenges") && (*final_authz)["challenges"].is_array())
      for (const json& c : (*final_authz)["challenges"])
        if (str(c, "url") == ch.url && c.contains("error")) err = describe_problem(err + ": " + ch.type, c["error"]);
    return false;
  }

  std::string order_failure(const std::string& step, const json& order) {
    std::string e = step + ": order " + printable(str(order, "status"));
    if (order.contains("error")) e = describe_problem(e, order["error"]);
    return e;
  }
};

Client::Client(Options options, PkeyPtr account_key) : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->key = std::move(account_key);
  impl_->http.ca_file = impl_->o.ca_file;
  impl_->http.user_agent = impl_->o.user_agent;
  impl_->http.timeout_ms = impl_->o.timeout_ms;
  impl_->http.connect_timeout_ms = impl_->o.connect_timeout_ms;
  impl_->http.stop = impl_->o.stop;
  if (auto jwk = public_jwk(impl_->key.get())) impl_->thumb = jwk_thumbprint(*jwk);
}

Client::~Client() = default;

const std::string& Client::account_url() const { return impl_->kid; }
const std::string& Client::thumbprint() const { return impl_->thumb; }

bool Client::ensure_account(std::string& err) {
  Impl& m = *impl_;
  if (!m.kid.empty()) return true;
  if (m.jws_alg_missing()) {
    err = "newAccount: the account key is neither EC P-256 (ES256) nor RSA (RS256)";
    return false;
  }
  if (!m.fetch_directory(err)) return false;
  json payload{{"termsOfServiceAgreed", true}};
  if (!m.o.email.empty()) payload["contact"] = json::array({"mailto:" + m.o.email});
  auto got = m.post_json("newAccount", str(m.dir, "newAccount"), payload.dump(), err, /*use_jwk=*/true);
  if (!got) return false;
  const std::string status = str(got->second, "status");
  if (!status.empty() && status != "valid") {
    err = "newAccount: the account is " + printable(status);
    return false;
  }
  m.kid = got->first.header("location");
  if (m.kid.empty()) {
    err = "newAccount: HTTP " + std::to_string(got->first.status) + " without a Location (the account URL)";
    return false;
  }
  return true;
}

std::optional<Issued> Client::issue(const std::vector<std::string>& domains, EVP_PKEY* cert_key,
                                    ChallengeSolver& solver, std::string& err) {
  Impl& m = *impl_;
  if (domains.empty()) {
    err = "newOrder: no domains";
    return std::nullopt;
  }
  if (!ensure_account(err)) return std::nullopt;
  std::vector<std::string> names;
  json identifiers = json::array();
  for (const std::string& d : domains) {
    names.push_back(lower(d));
    identifiers.push_back({{"type", "dns"}, {"value", names.back()}});
  }
  // RFC 8555 7.4: newOrder; its Location is the order's URL.
  auto order_got = m.post_json("newOrder", str(m.dir, "newOrder"), json{{"identifiers", identifiers}}.dump(), err);
  if (!order_got) return std::nullopt;
  const std::string order_url = order_got->first.header("location");
  json order = std::move(order_got->second);
  if (order_url.empty()) {
    err = "newOrder: no Location (the order URL)";
    return std::nullopt;
  }
  if (str(order, "status") == "invalid") {
    err = m.order_failure("newOrder", order);
    return std::nullopt;
  }
  if (!order.contains("authorizations") || !order["authorizations"].is_array()) {
    err = "newOrder: the order has no authorizations";
    return std::nullopt;
  }
  for (const json& a : order["authorizations"]) {
    if (!a.is_string()) {
      err = "newOrder: an authorization is not a URL";
      return std::nullopt;
    }
    if (!m.authorize(a.get<std::string>(), solver, err)) return std::nullopt;
  }

  // The order turns "ready" once every authorization is valid (7.1.6).
  auto ready = m.poll("order", order_url, err);
  if (!ready) return std::nullopt;
  order = std::move(*ready);
  if (str(order, "status") == "ready") {
    auto csr = make_csr(names, cert_key, err);
    if (!csr) return std::nullopt;
    json payload{{"csr", jose::base64url_encode(*csr)}};
    auto fin = m.post_json("finalize", str(order, "finalize"), payload.dump(), err);
    if (!fin) return std::nullopt;
    order = std::move(fin->second);
    const std::string st = str(order, "status");
    if (st == "processing" || st == "pending") {
      auto done = m.poll("order", order_url, err);
      if (!done) return std::nullopt;
      order = std::move(*done);
    }
  }
  if (str(order, "status") != "valid") {
    err = m.order_failure("finalize", order);
    return std::nullopt;
  }
  auto cert = m.post("certificate", str(order, "certificate"), std::nullopt, err, false,
                     "application/pem-certificate-chain");
  if (!cert) return std::nullopt;
  auto validity = parse_chain_validity(cert->body, err);
  if (!validity) {
    err = "certificate: " + err;
    return std::nullopt;
  }
  // What gets installed must be for our key and our names: a CA bug here
  // would otherwise break TLS for these names until the next renewal.
  if (std::string why = chain_mismatch(cert->body, cert_key, names); !why.empty()) {
    err = "certificate: " + why;
    return std::nullopt;
  }
  return Issued{std::move(cert->body), validity->not_before, validity->not_after};
}

}  // namespace gh::acme
