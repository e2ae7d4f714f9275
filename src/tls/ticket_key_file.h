// `ssl.ticket_key_file`: session-ticket keys shared by a fleet, in HAProxy's
// `tls-ticket-keys` format so one file can serve both. One key per line,
// base64 (RFC 4648, padded) of 80 bytes: a 16-byte key name, a 32-byte
// AES-256-CBC key, a 32-byte HMAC-SHA256 key (HAProxy's tls_sess_key_256
// layout). 48-byte keys (16 name + 16 AES-128 + 16 HMAC) are accepted too,
// but not mixed with 80-byte ones. Blank lines and lines starting with '#'
// are skipped.
//
// Rotation rule (HAProxy's): keys are listed oldest first; the second-to-last
// key encrypts new tickets (the only key, when there is one) and every listed
// key decrypts. The last key is the next one: a fleet appends a new key and
// drops the oldest, then reloads every process; members not yet reloaded
// already know the key the reloaded ones now encrypt with, so no ticket
// fails to resume on any member during the roll-out.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gh::tls {

// One ticket key. `aes128`: a 48-byte key (AES-128-CBC, 16-byte HMAC key);
// otherwise AES-256-CBC with a 32-byte HMAC key. Unused tail bytes are zero.
struct TicketKey {
  static constexpr size_t kNameLen = 16;
  std::array<unsigned char, kNameLen> name{};
  std::array<unsigned char, 32> aes{};
  std::array<unsigned char, 32> hmac{};
  bool aes128 = false;
};

// The keys of one ticket_key_file, oldest first; wiped when destroyed.
struct TicketKeySet {
  std::string source;            // the file, for logs
  std::vector<TicketKey> keys;   // never empty
  std::vector<int> lines;        // keys[i] came from line lines[i] (1-based)
  size_t encrypting = 0;         // index of the key that encrypts new tickets
  TicketKeySet() = default;
  TicketKeySet(const TicketKeySet&) = delete;
  TicketKeySet& operator=(const TicketKeySet&) = delete;
  ~TicketKeySet();
};

// Largest ticket_key_file read (bytes): thousands of keys; anything bigger is
// not a key file.
inline constexpr size_t kMaxTicketKeyFileBytes = 256 * 1024;

// Parses the file's text. Refuses (nullptr, `err` = "line N: why"): a line
// that is not padded base64, a key of another length than 80 or 48 bytes,
// 48- and 80-byte keys mixed, two keys with the same name, no key at all.
std::shared_ptr<const TicketKeySet> parse_ticket_keys(std::string_view text, std::string& err);

// Reads and parses `path`. Refuses as parse_ticket_keys, plus an unreadable
// file or one over kMaxTicketKeyFileBytes; `err` = "PATH: why".
std::shared_ptr<const TicketKeySet> load_ticket_key_file(const std::string& path, std::string& err);

}  // namespace gh::tls
