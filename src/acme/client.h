// The ACME protocol client (RFC 8555): an account, orders, authorizations
// with the http-01 (RFC 8555 8.3) and tls-alpn-01 (RFC 8737) challenges,
// finalization with a CSR, and the certificate download. HTTPS to the CA
// through libcurl, JWS (ES256) and keys through OpenSSL, JSON through
// nlohmann-json.
//
// Everything here BLOCKS (network round trips, polling with sleeps): run it
// on a control thread, never on a worker's io_context. Each request is
// bounded by Options::timeout_ms, each polling loop by
// Options::poll_timeout_ms, and Options::stop cancels at the next step (and
// aborts a transfer in progress through curl's progress callback).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "acme/keys.h"

namespace gh::acme {

// One challenge the solver is asked to answer (RFC 8555 8).
struct Challenge {
  std::string type;               // "http-01" | "tls-alpn-01"
  std::string domain;             // the identifier's value (a DNS name, lower case)
  std::string token;              // the challenge's token (base64url, RFC 8555 8.3)
  // token "." base64url(JWK thumbprint of the account key) (RFC 8555 8.1).
  // http-01: the body served at http://<domain>/.well-known/acme-challenge/<token>
  //   (Content-Type application/octet-stream or text/plain).
  // tls-alpn-01: what make_tls_alpn01_certificate() takes.
  std::string key_authorization;
  std::string url;                // the challenge's URL at the CA
};

// What the client calls to make the CA's validation succeed. The gatehouse
// side (HTTP-01 responder on the plain listener, TLS-ALPN-01 on the TLS
// listener) implements it. Called from the client's (control) thread only.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  // The challenge types this solver can answer, in order of preference
  // ("http-01", "tls-alpn-01"). Per authorization the client picks the first
  // of these the CA offers; none offered: issue() fails naming the types.
  virtual std::vector<std::string> types() const = 0;
  // Makes the response servable BEFORE returning (the client tells the CA
  // to validate right after). false + err: issue() fails with err.
  virtual bool present(const Challenge& challenge, std::string& err) = 0;
  // Called once for every challenge present() was called for (also when
  // present() failed or issuing failed later), after its authorization is
  // final (valid or invalid) or given up.
  virtual void cleanup(const Challenge& challenge) = 0;
};

// A certificate issued.
struct Issued {
  std::string chain_pem;          // PEM, leaf first, then the intermediates as the CA sent them
  std::chrono::system_clock::time_point not_before;   // the leaf's
  std::chrono::system_clock::time_point not_after;
};

struct Options {
  std::string directory_url;      // the CA's directory (RFC 8555 7.1.1), https:// (http:// accepted for tests)
  std::string ca_file;            // PEM trust for the CA's TLS (CURLOPT_CAINFO); empty: system trust
  std::string email;              // account contact ("mailto:" + email); empty: no contact
  long timeout_ms = 30000;        // whole-request bound for each HTTP request (ms)
  long connect_timeout_ms = 10000;  // TCP + TLS connect bound for each request (ms)
  // Bound on each polling loop (an authorization until valid/invalid, an
  // order until ready/valid) (ms). Retry-After is honoured, capped at this.
  long poll_timeout_ms = 120000;
  // Bound on retries of a request refused with badNonce (RFC 8555 6.5):
  // a fresh nonce from that response each time.
  int bad_nonce_retries = 5;
  std::string user_agent = "gatehouse";   // RFC 8555 6.1 asks clients to send one
  // Set (by another thread) to true to give up: checked between steps, in
  // polling sleeps and by curl's progress callback. The call in progress
  // returns false / nullopt with err "cancelled". May be null.
  std::atomic<bool>* stop = nullptr;
};

// One account at one CA. Not thread-safe: one thread at a time; cheap to
// keep for the life of the process (caches the directory, the account URL
// and a nonce).
class Client {
 public:
  // account_key: the account's private key (ES256: an EC P-256 key; others
  // are refused by ensure_account with a clear error). Owned by the client.
  Client(Options options, PkeyPtr account_key);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Fetches the directory (once) and creates the account, or finds the one
  // this key already has (RFC 8555 7.3: newAccount with
  // termsOfServiceAgreed; an existing key gets 200 + its Location back).
  // Idempotent: later calls return true at once. false + err: why
  // ("newAccount: urn:ietf:params:acme:error:invalidContact: ...").
  bool ensure_account(std::string& err);

  // The account's URL ("kid") once ensure_account succeeded, else "".
  const std::string& account_url() const;

  // The JWK thumbprint (RFC 7638, SHA-256, base64url) of the account key:
  // the part after the "." in every key authorization.
  const std::string& thumbprint() const;

  // Obtains a certificate for `domains` (DNS names; the first is the CSR's
  // subject CN, all are SANs) for `cert_key` (kept by the caller; the CSR is
  // signed with it): ensure_account, newOrder, each pending authorization
  // through `solver` (present, POST {} to the challenge, poll, cleanup),
  // finalize, poll the order, download the chain, check that its leaf holds
  // cert_key's public key and covers every name. nullopt + err on any
  // failure, naming the step and the CA's problem document
  // ("newOrder: urn:ietf:params:acme:error:rejectedIdentifier: ...",
  // "authorization app.example.com: invalid: urn:ietf:params:acme:error:connection: ...").
  std::optional<Issued> issue(const std::vector<std::string>& domains, EVP_PKEY* cert_key,
                              ChallengeSolver& solver, std::string& err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gh::acme
