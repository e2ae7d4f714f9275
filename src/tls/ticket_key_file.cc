#include "tls/ticket_key_file.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace gh::tls {
namespace {

constexpr size_t kKey256 = 80;
constexpr size_t kKey128 = 48;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Strict padded base64 (RFC 4648 section 4); false for anything else.
bool decode_base64(std::string_view in, std::vector<unsigned char>& out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return false;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool pad_ok = c == '=' && i + 2 >= in.size() && (i + 1 == in.size() || in[i + 1] == '=');
    if (!alnum && c != '+' && c != '/' && !pad_ok) return false;
  }
  out.assign(in.size() / 4 * 3, 0);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t pad = in.back() == '=' ? (in[in.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

}  // namespace

TicketKeySet::~TicketKeySet() {
  if (!keys.empty()) OPENSSL_cleanse(keys.data(), keys.size() * sizeof(TicketKey));
}

std::shared_ptr<const TicketKeySet> parse_ticket_keys(std::string_view text, std::string& err) {
  auto set = std::make_shared<TicketKeySet>();
  std::vector<unsigned char> raw;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    std::string at = "line " + std::to_string(line_no) + ": ";
    if (!decode_base64(line, raw)) {
      err = at + "not a base64 key (make one with: openssl rand 80 | base64 -w0)";
      return nullptr;
    }
    if (raw.size() != kKey256 && raw.size() != kKey128) {
      err = at + "a key is " + std::to_string(raw.size()) +
            " bytes; it must be 80 (16 name + 32 AES-256 + 32 HMAC) or 48 (AES-128)";
      OPENSSL_cleanse(raw.data(), raw.size());
      return nullptr;
    }
    TicketKey k;
    k.aes128 = raw.size() == kKey128;
    size_t half = k.aes128 ? 16 : 32;
    std::memcpy(k.name.data(), raw.data(), TicketKey::kNameLen);
    std::memcpy(k.aes.data(), raw.data() + TicketKey::kNameLen, half);
    std::memcpy(k.hmac.data(), raw.data() + TicketKey::kNameLen + half, half);
    OPENSSL_cleanse(raw.data(), raw.size());
    if (!set->keys.empty() && set->keys.front().aes128 != k.aes128) {
      err = at + "48-byte and 80-byte keys are mixed; use one length (80 recommended)";
      OPENSSL_cleanse(&k, sizeof k);
      return nullptr;
    }
    for (size_t i = 0; i < set->keys.size(); ++i) {
      if (set->keys[i].name == k.name) {
        err = at + "the key name (first 16 bytes) repeats line " + std::to_string(set->lines[i]);
        OPENSSL_cleanse(&k, sizeof k);
        return nullptr;
      }
    }
    set->keys.push_back(k);
    set->lines.push_back(line_no);
    OPENSSL_cleanse(&k, sizeof k);
  }
  if (set->keys.empty()) {
    err = "no key in the file (one base64 key per line: openssl rand 80 | base64 -w0)";
    return nullptr;
  }
  set->encrypting = set->keys.size() >= 2 ? set->keys.size() - 2 : 0;
  return set;
}

std::shared_ptr<const TicketKeySet> load_ticket_key_file(const std::string& path, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  std::string text;
  text.resize(kMaxTicketKeyFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) {
    err = path + ": read error";
    OPENSSL_cleanse(text.data(), text.size());
    return nullptr;
  }
  if (text.size() > kMaxTicketKeyFileBytes) {
    err = path + ": larger than " + std::to_string(kMaxTicketKeyFileBytes) + " bytes; not a key file";
    OPENSSL_cleanse(text.data(), text.size());
    return nullptr;
  }
  std::string why;
  auto set = parse_ticket_keys(text, why);
  OPENSSL_cleanse(text.data(), text.size());
  if (!set) {
    err = path + ": " + why;
    return nullptr;
  }
  const_cast<TicketKeySet&>(*set).source = path;
  return set;
}

}  // namespace gh::tls
