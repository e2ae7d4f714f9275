// parse() of net/proxy_protocol.h: HAProxy's proxy-protocol.txt, sections
// 2.1 (v1, text) and 2.2 (v2, binary). Strict where the spec is: a sender
// that does not follow it is refused rather than guessed at, since what it
// says decides who the client is.
#include <cstring>

#include "net/proxy_protocol.h"

namespace gh::net::proxy_protocol {

namespace {

constexpr size_t kV1Max = 107;   // "PROXY UNKNOWN ffff:...:ffff ... 65535 65535\r\n"
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr char kV2Sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr size_t kV2Fixed = 16;   // signature, ver_cmd, fam, len

ParseResult need_more() { return {}; }

ParseResult invalid(std::string why) {
  ParseResult r;
  r.status = Status::invalid;
  r.error = std::move(why);
  return r;
}

// True when `have` is a prefix of `full` (or the whole of it).
bool prefix_of(std::string_view have, std::string_view full) {
  return have.size() <= full.size() && full.substr(0, have.size()) == have;
}

// A v1 port: 1-5 digits, no leading zero (but "0" itself), at most 65535.
bool v1_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v > 65535) return false;
  out = uint16_t(v);
  return true;
}

// A v1 address of the family the protocol word names. inet_pton's forms
// only: IPv4 dotted quad without leading zeros, IPv6 without a zone.
bool v1_address(std::string_view s, bool v6, asio::ip::address& out) {
  if (s.empty() || s.size() > 45 || s.find('%') != std::string_view::npos) return false;
  error_code ec;
  if (v6) {
    if (s.find(':') == std::string_view::npos) return false;
    auto a = asio::ip::make_address_v6(std::string(s), ec);
    if (ec) return false;
    out = a;
  } else {
    auto a = asio::ip::make_address_v4(std::string(s), ec);
    if (ec) return false;
    out = a;
  }
  return true;
}

ParseResult parse_v1(std::string_view in) {
  const size_t crlf = in.find("\r\n");
  if (crlf == std::string_view::npos) {
    // A prefix so far? Within the length bound, no stray CR or LF, and the
    // protocol word on its way to one we know.
    if (in.size() >= kV1Max) return invalid("v1: no CRLF within 107 bytes");
    for (size_t i = 0; i < in.size(); ++i) {
      const char c = in[i];
      if (c == '\n' || (c == '\r' && i + 1 < in.size())) return invalid("v1: stray CR or LF");
      if (c != '\r' && (c < 0x20 || c > 0x7e)) return invalid("v1: not text");
    }
    std::string_view rest = in.substr(std::min(in.size(), kV1Prefix.size()));
    std::string_view word = rest.substr(0, rest.find_first_of(" \r"));
    if (!prefix_of(word, "TCP4") && !prefix_of(word, "TCP6") && !prefix_of(word, "UNKNOWN"))
      return invalid("v1: unknown protocol");
    return need_more();
  }
  const size_t length = crlf + 2;
  if (length > kV1Max) return invalid("v1: longer than 107 bytes");
  std::string_view line = in.substr(kV1Prefix.size(), crlf - kV1Prefix.size());
  for (char c : line)
    if (c < 0x20 || c > 0x7e) return invalid("v1: not text");
  ParseResult r;
  r.status = Status::complete;
  r.length = length;
  // "UNKNOWN": the rest of the line is to be ignored, and the connection's
  // own addresses apply.
  if (line.substr(0, 7) == "UNKNOWN" && (line.size() == 7 || line[7] == ' ')) {
    r.addresses.local = true;
    return r;
  }
  // "TCP4 src dst sport dport" / "TCP6 ...": exactly single spaces.
  std::string_view f[5];
  size_t n = 0;
  while (n < 5) {
    const size_t sp = line.find(' ');
    f[n++] = line.substr(0, sp);
    if (sp == std::string_view::npos) {
      line = {};
      break;
    }
    line.remove_prefix(sp + 1);
    if (n == 5) return invalid("v1: too many fields");
  }
  if (n != 5) return invalid("v1: too few fields");
  for (auto& x : f)
    if (x.empty()) return invalid("v1: empty field (double space)");
  bool v6;
  if (f[0] == "TCP4") v6 = false;
  else if (f[0] == "TCP6") v6 = true;
  else return invalid("v1: unknown protocol");
  asio::ip::address src, dst;
  uint16_t sport, dport;
  if (!v1_address(f[1], v6, src)) return invalid("v1: bad source address");
  if (!v1_address(f[2], v6, dst)) return invalid("v1: bad destination address");
  if (!v1_port(f[3], sport)) return invalid("v1: bad source port");
  if (!v1_port(f[4], dport)) return invalid("v1: bad destination port");
  r.addresses.source = tcp::endpoint(src, sport);
  r.addresses.destination = tcp::endpoint(dst, dport);
  return r;
}

uint16_t be16(const unsigned char* p) { return uint16_t(p[0] << 8 | p[1]); }

ParseResult parse_v2(std::string_view in) {
  const size_t sig = std::min(in.size(), sizeof kV2Sig);
  if (std::memcmp(in.data(), kV2Sig, sig) != 0) return invalid("v2: bad signature");
  const auto* u = reinterpret_cast<const unsigned char*>(in.data());
  if (in.size() > 12) {
    if ((u[12] >> 4) != 2) return invalid("v2: version is not 2");
    if ((u[12] & 0x0f) > 1) return invalid("v2: command is neither LOCAL nor PROXY");
  }
  if (in.size() > 13 && (u[12] & 0x0f) == 1) {
    // PROXY: the combinations section 2.2 defines: UNSPEC, then TCP and UDP over
    // IPv4 and IPv6, and UNIX stream and datagram.
    switch (u[13]) {
      case 0x00: case 0x11: case 0x12: case 0x21: case 0x22: case 0x31: case 0x32: break;
      default: return invalid("v2: unknown address family or protocol");
    }
  }
  if (in.size() < kV2Fixed) return need_more();
  const size_t len = be16(u + 14);
  if (kV2Fixed + len > kMaxHeader) return invalid("v2: header longer than " + std::to_string(kMaxHeader) + " bytes");
  if (in.size() < kV2Fixed + len) return need_more();
  ParseResult r;
  r.status = Status::complete;
  r.length = kV2Fixed + len;
  const unsigned char* a = u + kV2Fixed;
  if ((u[12] & 0x0f) == 0) {
    // LOCAL (the balancer's own connection, e.g. a health check): the
    // family and the whole address block are ignored.
    r.addresses.local = true;
    return r;
  }
  if (u[13] == 0x11) {   // TCP over IPv4: src, dst (4 bytes each), sport, dport
    if (len < 12) return invalid("v2: too short for IPv4 addresses");
    asio::ip::address_v4::bytes_type s, d;
    std::memcpy(s.data(), a, 4);
    std::memcpy(d.data(), a + 4, 4);
    r.addresses.source = tcp::endpoint(asio::ip::address_v4(s), be16(a + 8));
    r.addresses.destination = tcp::endpoint(asio::ip::address_v4(d), be16(a + 10));
    return r;
  }
  if (u[13] == 0x21) {   // TCP over IPv6: src, dst (16 bytes each), sport, dport
    if (len < 36) return invalid("v2: too short for IPv6 addresses");
    asio::ip::address_v6::bytes_type s, d;
    std::memcpy(s.data(), a, 16);
    std::memcpy(d.data(), a + 16, 16);
    r.addresses.source = tcp::endpoint(asio::ip::address_v6(s), be16(a + 32));
    r.addresses.destination = tcp::endpoint(asio::ip::address_v6(d), be16(a + 34));
    return r;
  }
  // UNSPEC, and the families we do not carry (UDP, UNIX): the spec
  // has the receiver fall back to the connection's own addresses. Whatever
  // follows the addresses (TLVs) is skipped with them.
  r.addresses.local = true;
  return r;
}

}  // namespace

ParseResult parse(std::string_view in) {
  if (in.empty()) return need_more();
  if (in[0] == 'P') {
    if (!prefix_of(in.substr(0, kV1Prefix.size()), kV1Prefix)) return invalid("not a PROXY header");
    if (in.size() < kV1Prefix.size()) return need_more();
    return parse_v1(in);
  }
  if (in[0] == '\r') return parse_v2(in);
  return invalid("not a PROXY header");
}

}  // namespace gh::net::proxy_protocol
