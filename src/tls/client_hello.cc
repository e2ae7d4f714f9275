#include "tls/client_hello.h"

#include <cstdint>

#include "config/address.h"

namespace gh::tls {
namespace {

constexpr uint8_t kHandshakeRecord = 22;     // RFC 8446 5.1 ContentType.handshake
constexpr size_t kRecordHeader = 5;          // type, legacy_record_version, length
constexpr size_t kMaxFragment = 16384;       // 2^14
constexpr uint8_t kClientHelloType = 1;      // RFC 8446 4 HandshakeType.client_hello
constexpr size_t kHandshakeHeader = 4;       // msg_type, uint24 length
// legacy_version, random, three length prefixes (session id, cipher
// suites, compression methods), one suite and one method.
constexpr size_t kMinClientHelloBody = 2 + 32 + 1 + 2 + 2 + 1 + 1;

constexpr uint16_t kExtServerName = 0;       // RFC 6066 3
constexpr uint16_t kExtAlpn = 16;            // RFC 7301 3.1
constexpr uint16_t kExtEch = 0xfe0d;         // RFC 9849 encrypted_client_hello
constexpr uint16_t kExtEsniDraft = 0xffce;   // draft-ietf-tls-esni before ECH
constexpr uint8_t kHostName = 0;             // RFC 6066 NameType.host_name

// Big-endian reads that fail (ok = false) instead of running past the end.
struct Reader {
  std::string_view in;
  bool ok = true;

  size_t left() const { return in.size(); }
  uint32_t num(size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
    in.remove_prefix(n);
    return v;
  }
  std::string_view bytes(size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string_view v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
  // A vector with an n-byte length prefix (RFC 8446 3.4).
  Reader vec(size_t n) { return Reader{bytes(num(n)), ok}; }
};

ClientHello refuse(const char* why) {
  ClientHello r;
  r.status = ClientHelloStatus::not_tls;
  r.error = why;
  return r;
}

std::string host_name(std::string_view name) {
  if (!config::is_dns_name(name)) return {};
  std::string out(name);
  if (out.back() == '.') out.pop_back();
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 6066 3: ServerNameList server_name_list<1..2^16-1>, one host_name.
bool read_server_name(std::string_view data, ClientHello& out) {
  Reader r{data};
  Reader list = r.vec(2);
  if (!r.ok || r.left() != 0 || list.left() == 0) return false;
  if (list.num(1) != kHostName) return false;
  std::string_view name = list.vec(2).in;
  if (!list.ok || name.empty() || list.left() != 0) return false;
  out.server_name = host_name(name);
  return true;
}

// RFC 7301 3.1: ProtocolName protocol_name_list<2..2^16-1>, names <1..2^8-1>.
bool read_alpn(std::string_view data, ClientHello& out) {
  Reader r{data};
  Reader list = r.vec(2);
  if (!r.ok || r.left() != 0 || list.left() == 0) return false;
  while (list.left() > 0) {
    std::string_view name = list.vec(1).in;
    if (!list.ok || name.empty()) return false;
    out.alpn.emplace_back(name);
  }
  return true;
}

// RFC 8446 4.1.2: the ClientHello body, `msg` without its handshake header.
ClientHello read_body(std::string_view msg) {
  ClientHello out;
  Reader r{msg};
  if (r.num(2) >> 8 != 3) return refuse("ClientHello legacy_version is not 3.x");
  r.bytes(32);                                     // random
  if (r.vec(1).left() > 32) return refuse("legacy_session_id longer than 32 bytes");
  Reader suites = r.vec(2);
  if (r.ok && (suites.left() < 2 || suites.left() % 2 != 0)) return refuse("bad cipher_suites length");
  Reader methods = r.vec(1);
  if (r.ok && methods.left() == 0) return refuse("no compression method");
  if (!r.ok) return refuse("ClientHello shorter than its fields");
  if (r.left() > 0) {   // no extensions at all is a valid (pre-TLS 1.3) hello
    Reader exts = r.vec(2);
    if (!r.ok || r.left() != 0) return refuse("extensions length does not match the ClientHello");
    bool seen_sni = false, seen_alpn = false;
    while (exts.left() > 0) {
      uint32_t type = exts.num(2);
      std::string_view data = exts.vec(2).in;
      if (!exts.ok) return refuse("extension longer than the extensions block");
      if (type == kExtServerName) {
        if (seen_sni) return refuse("server_name extension repeated");
        seen_sni = true;
        if (!read_server_name(data, out)) return refuse("malformed server_name extension");
      } else if (type == kExtAlpn) {
        if (seen_alpn) return refuse("ALPN extension repeated");
        seen_alpn = true;
        if (!read_alpn(data, out)) return refuse("malformed ALPN extension");
      } else if (type == kExtEch || type == kExtEsniDraft) {
        if (out.ech) return refuse("ECH extension repeated");
        out.ech = true;
      }
    }
  }
  out.status = ClientHelloStatus::complete;
  return out;
}

}  // namespace

ClientHello parse_client_hello(std::string_view in) {
  // Walk the records, gathering the handshake bytes. While the first record
  // holds the whole message (every client we know of) they are read where
  // they lie; only a fragmented ClientHello is copied together.
  std::string joined;
  std::string_view first;     // the first record's fragment (as much as is here)
  size_t msg_total = 0;       // handshake header + body, once the header is known
  size_t pos = 0;
  while (true) {
    // The records so far end here without the whole message: one more
    // (of at least one byte) would pass the bound.
    if (pos + kRecordHeader + 1 > kMaxClientHelloBytes) return refuse("ClientHello over the size bound");
    std::string_view rec = in.substr(pos);
    // The header's bytes are checked as they arrive, so plain HTTP or
    // random bytes are refused from their first byte.
    if (rec.size() >= 1 && static_cast<uint8_t>(rec[0]) != kHandshakeRecord) {
      return refuse(pos == 0 ? "not a TLS handshake record" : "another record type inside the ClientHello");
    }
    if (rec.size() >= 2 && rec[1] != 3) return refuse("record version is not 3.x");
    if (rec.size() < kRecordHeader) return ClientHello{};
    const size_t len = (static_cast<size_t>(static_cast<uint8_t>(rec[3])) << 8) | static_cast<uint8_t>(rec[4]);
    if (len == 0) return refuse("empty handshake record");
    if (len > kMaxFragment) return refuse("record longer than 2^14 bytes");
    if (pos + kRecordHeader + len > kMaxClientHelloBytes) return refuse("ClientHello over the size bound");
    std::string_view frag = rec.substr(kRecordHeader, len);
    if (pos == 0) {
      first = frag;
    } else {
      if (joined.empty()) joined.assign(first);
      joined.append(frag);
    }
    std::string_view hs = pos == 0 ? first : std::string_view(joined);
    if (msg_total == 0 && hs.size() >= kHandshakeHeader) {
      if (static_cast<uint8_t>(hs[0]) != kClientHelloType) return refuse("first handshake message is not a ClientHello");
      const size_t body = (static_cast<size_t>(static_cast<uint8_t>(hs[1])) << 16) |
                          (static_cast<size_t>(static_cast<uint8_t>(hs[2])) << 8) | static_cast<uint8_t>(hs[3]);
      if (body < kMinClientHelloBody) return refuse("ClientHello too short");
      // Each record carries at least one byte, so the records take at
      // least the message plus one header.
      if (kRecordHeader + kHandshakeHeader + body > kMaxClientHelloBytes) return refuse("ClientHello over the size bound");
      msg_total = kHandshakeHeader + body;
    }
    if (frag.size() < len) return ClientHello{};   // this record is still arriving
    pos += kRecordHeader + len;
    if (msg_total != 0 && hs.size() >= msg_total) {
      ClientHello out = read_body(hs.substr(kHandshakeHeader, msg_total - kHandshakeHeader));
      if (out.status == ClientHelloStatus::complete) out.length = pos;
      return out;
    }
  }
}

}  // namespace gh::tls
