// Keys that encrypt TLS session tickets (RFC 5077 / TLS 1.3 stateless
// resumption). One ring per process, shared by every server context and
// every reload, so a client resumes whatever certificate or config
// generation served it. Keys live in memory only and rotate: a new key
// encrypts every `period`; the previous one still decrypts for one more
// period, so any ticket stays usable for at least one period and none for
// more than two. With `ssl.ticket_key_file` the keys come from that file
// instead (ticket_key_file.h: format and rotation rule), so every process of
// a fleet sealing and opening tickets with the same keys resumes the others'
// sessions.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

#include "tls/ticket_key_file.h"

namespace gh::tls {

class TicketKeys {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kNameLen = 16;

  explicit TicketKeys(std::chrono::seconds period = std::chrono::hours(1));
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // The ring every server context uses (never destroyed, so worker threads
  // finishing handshakes during exit do not touch a dead object).
  static TicketKeys& process();

  std::chrono::seconds period() const { return period_; }

  // Ticket encryption, the enc=1 half of OpenSSL's ticket callback: fills
  // `name` and `iv` and keys both contexts with the current key (rotating
  // first when due), or the file's encrypting key when a file is in use.
  // 1 on success, -1 when OpenSSL or the RNG fails.
  int encrypt(unsigned char name[kNameLen], unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, Clock::time_point now);
  // The enc=0 half: keys both contexts with the key called `name`. 1: the
  // current key (with a file: its encrypting key); 2: the previous key (with
  // a file: any other listed key; OpenSSL then issues a fresh ticket);
  // 0: unknown or expired key (full handshake); -1: OpenSSL failure.
  int decrypt(const unsigned char name[kNameLen], const unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, Clock::time_point now);

  // Starts a new key now; the current one becomes the previous. For tests
  // and for an operator-forced rotation.
  void rotate(Clock::time_point now);

  // Seals and opens tickets with `set` from now on (the file's keys replace
  // the in-memory ring, whose tickets then no longer resume), or with the
  // in-memory ring again when `set` is null. Logs a change of file keys.
  void use_file_keys(std::shared_ptr<const TicketKeySet> set);
  // The file keys in use, or null for the in-memory ring.
  std::shared_ptr<const TicketKeySet> file_keys();

  // Makes `ctx` issue and accept tickets with the process ring, with a
  // session lifetime of one period. False when OpenSSL refuses.
  static bool install(SSL_CTX* ctx);

 private:
  using Key = TicketKey;  // the ring makes AES-256-CBC + HMAC-SHA256 keys
  static bool fresh_key(Key& k);
  static bool key_contexts(const Key& k, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                           EVP_MAC_CTX* mac, bool enc);
  // Caller holds mu_. False when the RNG failed (the old keys stay).
  bool rotate_if_due(Clock::time_point now);
  bool rotate_locked(Clock::time_point now);

  const std::chrono::seconds period_;
  std::mutex mu_;  // taken once per full or resumed handshake, never per request
  Key current_;
  std::optional<Key> previous_;
  Clock::time_point next_rotation_;
  bool have_current_ = false;
  std::shared_ptr<const TicketKeySet> file_;  // set: the ring above is unused
};

}  // namespace gh::tls
