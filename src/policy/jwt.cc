// jwt (CONTRACT "Policies", docs/jwt.md): a bearer token (RFC 6750 2.1)
// verified against a JWK Set (src/jose), its claims copied into upstream
// fields. Verification runs on the worker: a signature check costs tens of
// microseconds, less than a trip to the blocking pool, and a token verified
// once is remembered per worker until it expires. The only wait is for
// a jwks_url fetch (first keys, or a kid the set lacks), done by the
// JwksSource's thread while the request is suspended.
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "core/string_map.h"
#include "http/token.h"
#include "jose/jwt.h"
#include "policy/jwks_source.h"
#include "policy/kinds.h"

namespace gh::policy {
namespace {

using nlohmann::json;

// How long a request waits for a jwks_url fetch it asked for (ms), and how
// often it looks (the fetch thread cannot wake a worker's coroutine).
constexpr int kFetchWaitMs = 3'000;
constexpr int kPollMs = 20;
// Claim values longer than this (bytes) are not sent upstream.
constexpr size_t kMaxClaimValue = 8 * 1024;

// The field value for a claim: strings as they are, numbers and booleans as
// JSON text, arrays of strings joined with ", ". nullopt for anything else
// (objects, null, mixed arrays) and for values a field line cannot carry
// (control characters: CR/LF would split the head) or that are too long.
std::optional<std::string> field_value(const json& v) {
  std::string out;
  if (v.is_string()) {
    out = v.get<std::string>();
  } else if (v.is_number() || v.is_boolean()) {
    out = v.dump();
  } else if (v.is_array()) {
    for (const json& item : v) {
      if (!item.is_string()) return std::nullopt;
      if (!out.empty()) out += ", ";
      out += item.get_ref<const std::string&>();
    }
  } else {
    return std::nullopt;
  }
  if (out.size() > kMaxClaimValue) return std::nullopt;
  for (unsigned char c : out)
    if (c < 0x20 || c == 0x7f) return std::nullopt;
  const std::string_view trimmed = http::trim_ows(out);
  if (trimmed.empty()) return std::nullopt;
  return std::string(trimmed);
}

// Per worker thread: tokens verified already, so a client sending the same
// token on every request pays the signature check (50-200 us for RS256,
// ES256, EdDSA) once per worker. An entry counts only for the policy that
// made it, with the key set it was verified against, until the token's exp
// (plus skew): nothing else about a verified token can turn it invalid later.
struct CachedToken {
  uint64_t policy = 0;
  uint64_t keys_version = 0;
  double valid_until = 0;   // seconds since the epoch
  std::vector<std::pair<uint16_t, std::string>> fields;   // index into claims_to_headers, value
};
constexpr size_t kCacheBytes = 4 << 20;   // per worker thread (token bytes); full: start over
thread_local core::StringMap<CachedToken> tl_tokens;
thread_local size_t tl_token_bytes = 0;
std::atomic<uint64_t> g_next_jwt_id{1};

// Why a request is refused, for Proxy-Status, the log and the challenge.
enum class Refusal : uint8_t { no_token, invalid };

class Jwt final : public Policy {
 public:
  explicit Jwt(const config::Jwt& c)
      : id_(g_next_jwt_id++), issuer_(c.issuer), audiences_(c.audiences), claims_(c.claims_to_headers),
        skew_s_(std::chrono::duration_cast<std::chrono::seconds>(c.clock_skew).count()),
        keys_(c.keys) {
    if (!c.jwks_url.empty()) source_ = JwksSource::get(c.jwks_url, c.jwks_refresh);
  }
  const char* name() const override { return "jwt"; }
  bool acts_on_request() const override { return true; }
  // A client must never choose the values of the fields claims fill.
  void static_upstream_edits(FieldEdits& out) const override {
    for (const auto& [claim, field] : claims_) out.remove(field);
  }

  Verdict on_request(Exchange& ex) const override {
    // RFC 6750 2.1: Authorization: Bearer <token68>; the scheme is
    // case-insensitive (RFC 9110 11.1). Two Authorization fields are refused:
    // which one would the backend read?
    std::string_view auth;
    int count = 0;
    for (const http::Field& f : ex.request->fields) {
      if (f.name.size() == 13 && http::iequals(f.name, "authorization")) {
        auth = f.value;
        ++count;
      }
    }
    if (count == 0) return refuse(ex, Refusal::no_token, "jwt: no bearer token");
    if (count > 1) return refuse(ex, Refusal::invalid, "jwt: more than one Authorization field",
                                  "more than one Authorization field");
    if (auth.size() < 7 || !http::iequals(auth.substr(0, 7), "bearer ")) {
      return refuse(ex, Refusal::no_token, "jwt: not Bearer credentials");
    }
    std::string_view token = auth.substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    if (token.size() > jose::kMaxTokenBytes) {
      return refuse(ex, Refusal::invalid, "jwt: token too large", "token too large");
    }
    auto keys = current_keys();
    if (!keys && !source_) return no_keys(ex);
    if (!keys) {
      // jwks_url not fetched yet: wait for the first fetch, briefly.
      return wait_for(ex, source_->first_fetch(), token);
    }
    return check(ex, token, *keys, true);
  }

  net::awaitable<Verdict> resume(Exchange& ex) const override {
    uint64_t target = 0;
    std::memcpy(&target, ex.pending.data(), sizeof target);
    const std::string token = ex.pending.substr(sizeof target);
    ex.pending.clear();
    net::asio::steady_timer t(co_await net::asio::this_coro::executor);
    for (int waited = 0; source_->fetches_done() < target && waited < kFetchWaitMs; waited += kPollMs) {
      t.expires_after(std::chrono::milliseconds(kPollMs));
      co_await t.async_wait(net::nothrow);
    }
    auto keys = current_keys();
    if (!keys) co_return no_keys(ex);
    co_return check(ex, token, *keys, false);
  }

 private:
  std::shared_ptr<const jose::KeySet> current_keys() const { return source_ ? source_->keys() : keys_; }

  Verdict wait_for(Exchange& ex, uint64_t target, std::string_view token) const {
    ex.pending.assign(reinterpret_cast<const char*>(&target), sizeof target);
    ex.pending.append(token);
    return Verdict::suspend;
  }

  Verdict check(Exchange& ex, std::string_view token, const jose::KeySet& keys, bool may_refetch) const {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const uint64_t version = source_ ? source_->version() : 0;
    if (auto it = tl_tokens.find(token); it != tl_tokens.end()) {
      const CachedToken& c = it->second;
      if (c.policy == id_ && c.keys_version == version && now < c.valid_until) {
        for (const auto& [i, value] : c.fields) ex.upstream.append_copy(claims_[i].second, value);
        return Verdict::next;
      }
    }
    const jose::ClaimRules rules{issuer_, audiences_, skew_s_};
    jose::Verified v = jose::verify_jwt(token, keys, rules, now);
    if (v.failure == jose::Failure::unknown_kid && may_refetch && source_) {
      // A key rotation the set has not seen yet: fetch (rate-limited), retry.
      if (uint64_t target = source_->refetch_for_unknown_kid()) return wait_for(ex, target, token);
    }
    if (v.failure != jose::Failure::none) {
      const char* why = jose::describe(v.failure);
      return refuse(ex, Refusal::invalid, std::string("jwt: ") + why, why);
    }
    CachedToken entry{id_, version, v.exp + static_cast<double>(skew_s_), {}};
    for (size_t i = 0; i < claims_.size(); ++i) {
      auto it = v.claims.find(claims_[i].first);
      if (it == v.claims.end()) continue;
      if (auto value = field_value(*it)) {
        ex.upstream.append_copy(claims_[i].second, *value);
        entry.fields.emplace_back(static_cast<uint16_t>(i), std::move(*value));
      }
    }
    if (tl_token_bytes + token.size() > kCacheBytes) {
      tl_tokens.clear();
      tl_token_bytes = 0;
    }
    auto [it, fresh] = tl_tokens.insert_or_assign(std::string(token), std::move(entry));
    if (fresh) tl_token_bytes += token.size();
    return Verdict::next;
  }

  static Verdict no_keys(Exchange& ex) {
    Answer a;
    a.status = 503;
    a.error = "proxy_internal_error";
    a.details = "jwt: signing keys not fetched yet";
    a.fields.emplace_back("Retry-After", "5");
    ex.answer = std::move(a);
    return Verdict::answered;
  }

  // RFC 6750 3: no error code when the request carried no token; else
  // error="invalid_token" and a description.
  static Verdict refuse(Exchange& ex, Refusal r, std::string details, const char* description = nullptr) {
    Answer a;
    a.status = 401;
    a.details = std::move(details);
    if (r == Refusal::no_token) a.fields.emplace_back("WWW-Authenticate", "Bearer");
    else a.fields.emplace_back("WWW-Authenticate", std::string("Bearer error=\"invalid_token\", error_description=\"") +
                                                       description + "\"");
    ex.answer = std::move(a);
    return Verdict::answered;
  }

  uint64_t id_;   // tells this policy's cached tokens from another's (and a reloaded one's)
  std::string issuer_;
  std::vector<std::string> audiences_;
  std::vector<std::pair<std::string, std::string>> claims_;
  int64_t skew_s_;
  std::shared_ptr<const jose::KeySet> keys_;   // jwks_file
  std::shared_ptr<JwksSource> source_;         // jwks_url
};

}  // namespace

std::unique_ptr<Policy> make_jwt(const config::Jwt& conf) { return std::make_unique<Jwt>(conf); }

}  // namespace gh::policy
