// Automatic certificates (CONTRACT "L4 streams, PROXY protocol, ACME"): one
// control thread (never a worker) that keeps a certificate for every name of
// `ssl.acme.domains`, one certificate per name (as Caddy does: a name the CA
// refuses never holds up the others).
//
// Storage (`ssl.acme.storage`, directories 0700, files 0600, each written
// to a temp file and renamed):
//   account.key                  the ACME account's key (P-256)
//   certs/<name>/cert.pem        the chain, leaf first
//   certs/<name>/key.pem         its key
// At start a stored certificate that is still valid serves at once, before
// any listener accepts (no order is placed for it unless it is past its
// renewal point). A missing one, or one past two thirds of its lifetime, is
// ordered: http-01 when a plain listener exists (after a failed attempt the
// next one prefers tls-alpn-01, and so on alternating, in case the CA cannot
// reach one of the ports), else tls-alpn-01 on the TLS listener. Success: stored, then
// published to tls::LiveCertificates, which serves the next handshake (no
// restart). Failure: logged with the CA's problem document, the certificate
// serving keeps serving, and the next attempt comes after a delay doubling
// from GATEHOUSE_ACME_RETRY_MS (default 60000 ms; the variable is meant for
// tests) up to one day.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"

namespace gh::acme {

class Client;

class Manager {
 public:
  Manager();
  // stop().
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Takes the ssl section of a (new) config: at the first call with ACME
  // set, the stored certificates are loaded and published before this
  // returns, then the thread starts. Later calls (SIGHUP) hand the thread
  // the new settings: names no longer listed stop being served by ACME,
  // new names are ordered, a changed directory, email, ca_file or storage
  // takes a new account client. `plain_listener`: http-01 can be answered
  // (a plain HTTP listener besides the TLS one). ACME unset or ssl
  // disabled: nothing is ordered and nothing of ACME serves.
  void apply(const config::Ssl& ssl, bool plain_listener);

  // Stops the thread promptly (a transfer in progress is aborted) and
  // waits for it. Idempotent.
  void stop();

 private:
  struct Name {
    std::string domain;
    bool have = false;   // a valid certificate is published
    std::chrono::system_clock::time_point not_before, not_after;
    std::chrono::system_clock::time_point next_try{};   // after a failure
    std::chrono::milliseconds backoff{0};               // the last delay used; 0: no failure yet
    bool alpn_first = false;   // after a failure: tls-alpn-01 before http-01 (alternating)
    std::chrono::system_clock::time_point renew_at() const { return not_before + (not_after - not_before) * 2 / 3; }
  };
  struct Settings {
    config::Acme acme;
    bool active = false;
    bool plain_listener = false;
    std::string cert_file;   // ssl's default certificate; empty: the in-memory placeholder serves
  };

  void run();
  // Loads what storage holds for every name (publishing valid ones) and
  // withdraws names no longer configured. Thread only, or before it starts.
  void take_settings(const Settings& s);
  void attempt(Name& n);
  bool ensure_client(std::string& err);
  std::string cert_dir(const std::string& domain) const;

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Settings> pending_;   // under mu_: for the thread to take
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // The thread's own state (no lock).
  Settings cur_;
  std::vector<Name> names_;
  std::unique_ptr<Client> client_;
  std::string client_key_;   // directory + ca_file + email + storage the client was made for
};

}  // namespace gh::acme
