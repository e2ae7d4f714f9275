#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

#include "core/log.h"

namespace gh::tls {
namespace {

int ticket_callback(SSL*, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                    EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  TicketKeys& keys = TicketKeys::process();
  auto now = TicketKeys::Clock::now();
  return enc ? keys.encrypt(name, iv, cipher, mac, now) : keys.decrypt(name, iv, cipher, mac, now);
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::seconds period)
    : period_(period.count() > 0 ? period : std::chrono::seconds(1)) {}

TicketKeys::~TicketKeys() {
  OPENSSL_cleanse(&current_, sizeof current_);
  if (previous_) OPENSSL_cleanse(&*previous_, sizeof *previous_);
}

TicketKeys& TicketKeys::process() {
  static TicketKeys* keys = new TicketKeys();
  return *keys;
}

bool TicketKeys::fresh_key(Key& k) {
  return RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) == 1 &&
         RAND_priv_bytes(k.aes.data(), static_cast<int>(k.aes.size())) == 1 &&
         RAND_priv_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) == 1;
}

bool TicketKeys::key_contexts(const Key& k, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                              EVP_MAC_CTX* mac, bool enc) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac.data()),
                                        k.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (k.aes128) params[0] = OSSL_PARAM_construct_octet_string(
                    OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac.data()), 16);
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return false;
  const EVP_CIPHER* c = k.aes128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
  return enc ? EVP_EncryptInit_ex(cipher, c, nullptr, k.aes.data(), iv) == 1
             : EVP_DecryptInit_ex(cipher, c, nullptr, k.aes.data(), iv) == 1;
}

bool TicketKeys::rotate_locked(Clock::time_point now) {
  Key k;
  if (!fresh_key(k)) return false;
  // After a long idle spell the current key is itself older than a period:
  // it must not survive as "previous".
  if (have_current_ && now < next_rotation_ + period_) {
    previous_ = current_;
  } else {
    previous_.reset();
  }
  current_ = k;
  OPENSSL_cleanse(&k, sizeof k);
  have_current_ = true;
  next_rotation_ = now + period_;
  return true;
}

bool TicketKeys::rotate_if_due(Clock::time_point now) {
  if (have_current_ && now < next_rotation_) return true;
  return rotate_locked(now) || (have_current_ && now < next_rotation_ + period_);
}

void TicketKeys::rotate(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!have_current_) {
    rotate_locked(now);
    return;
  }
  // Forced: pretend the rotation is due now, keeping the current key as previous.
  next_rotation_ = now;
  rotate_locked(now);
}

int TicketKeys::encrypt(unsigned char name[kNameLen], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, Clock::time_point now) {
  Key k;
  {
    std::lock_guard lock(mu_);
    if (file_) {
      k = file_->keys[file_->encrypting];
    } else {
      if (!rotate_if_due(now)) return -1;
      k = current_;
    }
  }
  // Both ciphers (AES-128/256-CBC) take a 16-byte IV.
  int iv_len = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
  int rc = -1;
  if (iv_len > 0 && iv_len <= EVP_MAX_IV_LENGTH && RAND_bytes(iv, iv_len) == 1 &&
      key_contexts(k, iv, cipher, mac, true)) {
    std::memcpy(name, k.name.data(), kNameLen);
    rc = 1;
  }
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

int TicketKeys::decrypt(const unsigned char name[kNameLen], const unsigned char* iv,
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, Clock::time_point now) {
  Key k;
  int found = 0;
  {
    std::lock_guard lock(mu_);
    if (file_) {
      for (size_t i = 0; i < file_->keys.size(); ++i) {
        if (std::memcmp(name, file_->keys[i].name.data(), kNameLen) != 0) continue;
        k = file_->keys[i];
        found = i == file_->encrypting ? 1 : 2;
        break;
      }
    } else {
      rotate_if_due(now);  // drops keys that have aged out even if no ticket was issued lately
      if (have_current_ && std::memcmp(name, current_.name.data(), kNameLen) == 0) {
        k = current_;
        found = 1;
      } else if (previous_ && std::memcmp(name, previous_->name.data(), kNameLen) == 0) {
        k = *previous_;
        found = 2;
      }
    }
  }
  if (found == 0) return 0;
  int rc = key_contexts(k, iv, cipher, mac, false) ? found : -1;
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

void TicketKeys::use_file_keys(std::shared_ptr<const TicketKeySet> set) {
  std::shared_ptr<const TicketKeySet> old;
  {
    std::lock_guard lock(mu_);
    if (file_ == set) return;
    old = std::move(file_);
    file_ = set;
  }
  if (set) {
    GH_INFO("TLS session tickets: %zu key(s) from %s; new tickets are sealed with the key on line %d",
            set->keys.size(), set->source.c_str(), set->lines[set->encrypting]);
  } else if (old) {
    GH_INFO("TLS session tickets: no ticket_key_file any more; keys are made in memory and rotate hourly");
  }
}

std::shared_ptr<const TicketKeySet> TicketKeys::file_keys() {
  std::lock_guard lock(mu_);
  return file_;
}

bool TicketKeys::install(SSL_CTX* ctx) {
  process();  // create the ring before worker threads race to do it
  SSL_CTX_set_timeout(ctx, static_cast<long>(process().period().count()));
  return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback) == 1;
}

}  // namespace gh::tls
