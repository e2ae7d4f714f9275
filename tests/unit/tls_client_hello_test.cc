// The ClientHello reader behind `sni` streams: real ClientHellos made by
// OpenSSL (SSL_connect on memory BIOs), fed whole, byte by byte and split
// into records every way, and malformed ones.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tls/client_hello.h"

namespace gh::tls {
namespace {

using S = ClientHelloStatus;

struct HelloOptions {
  std::string sni;                    // empty: no server_name extension
  std::vector<std::string> alpn;
  int max_version = TLS1_3_VERSION;
  uint16_t extra_type = 0;            // 0: none; else a custom extension of extra_len bytes
  size_t extra_len = 0;
};

HelloOptions with_sni(std::string sni, std::vector<std::string> alpn = {}) {
  HelloOptions o;
  o.sni = std::move(sni);
  o.alpn = std::move(alpn);
  return o;
}
HelloOptions tls12(std::string sni) {
  HelloOptions o = with_sni(std::move(sni));
  o.max_version = TLS1_2_VERSION;
  return o;
}
HelloOptions with_extra(std::string sni, uint16_t type, size_t len) {
  HelloOptions o = with_sni(std::move(sni));
  o.extra_type = type;
  o.extra_len = len;
  return o;
}

int add_extra(SSL*, unsigned int, unsigned int, const unsigned char** out, size_t* outlen, X509*,
              size_t, int*, void* arg) {
  const std::string* data = static_cast<const std::string*>(arg);
  *out = reinterpret_cast<const unsigned char*>(data->data());
  *outlen = data->size();
  return 1;
}

// The bytes OpenSSL's client sends first: its ClientHello records.
std::string client_hello(const HelloOptions& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  EXPECT_NE(ctx, nullptr);
  SSL_CTX_set_max_proto_version(ctx, o.max_version);
  std::string extra(o.extra_len, 'x');
  if (o.extra_type != 0) {
    EXPECT_EQ(SSL_CTX_add_custom_ext(ctx, o.extra_type, SSL_EXT_CLIENT_HELLO, add_extra, nullptr,
                                     &extra, nullptr, nullptr),
              1);
  }
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  EXPECT_EQ(SSL_do_handshake(ssl), -1);   // waits for the ServerHello
  std::string out;
  char buf[4096];
  int n;
  while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

std::string u16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

std::string record(std::string_view fragment, uint8_t type = 22) {
  return std::string{static_cast<char>(type), 3, 1} + u16(fragment.size()) + std::string(fragment);
}

// The handshake bytes of a hello that OpenSSL put in one record.
std::string message_of(const std::string& hello) {
  EXPECT_GE(hello.size(), 5u);
  size_t len = (static_cast<uint8_t>(hello[3]) << 8) | static_cast<uint8_t>(hello[4]);
  EXPECT_EQ(hello.size(), 5 + len) << "expected a single record";
  return hello.substr(5);
}

// The handshake message re-cut into records at `cuts` (offsets into it).
std::string split_records(const std::string& msg, const std::vector<size_t>& cuts) {
  std::string out;
  size_t start = 0;
  for (size_t c : cuts) {
    out += record(std::string_view(msg).substr(start, c - start));
    start = c;
  }
  out += record(std::string_view(msg).substr(start));
  return out;
}

// A ClientHello built by hand around the given extensions block contents.
std::string hand_hello(const std::string& extensions, bool with_block = true) {
  std::string body = u16(0x0303) + std::string(32, 'r') + std::string(1, '\0') + u16(2) +
                     u16(0x1301) + std::string{1, 0};
  if (with_block) body += u16(extensions.size()) + extensions;
  std::string msg = std::string{1, static_cast<char>(body.size() >> 16),
                                static_cast<char>((body.size() >> 8) & 0xff),
                                static_cast<char>(body.size() & 0xff)} +
                    body;
  return record(msg);
}

std::string ext(uint16_t type, const std::string& data) { return u16(type) + u16(data.size()) + data; }
std::string sni_ext(const std::string& name) {
  std::string entry = std::string(1, '\0') + u16(name.size()) + name;
  return ext(0, u16(entry.size()) + entry);
}

void expect_same(const ClientHello& a, const ClientHello& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.server_name, b.server_name);
  EXPECT_EQ(a.alpn, b.alpn);
  EXPECT_EQ(a.ech, b.ech);
}

// ---- real ClientHellos ------------------------------------------------------

TEST(TlsClientHello, Tls13WithSniAndAlpn) {
  std::string h = client_hello(with_sni("Agents.Example.TEST", {"h2", "http/1.1"}));
  ClientHello c = parse_client_hello(h);
  ASSERT_EQ(c.status, S::complete) << c.error;
  EXPECT_EQ(c.length, h.size());
  EXPECT_EQ(c.server_name, "agents.example.test");
  EXPECT_EQ(c.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_FALSE(c.ech);
}

TEST(TlsClientHello, Tls12Client) {
  std::string h = client_hello(tls12("a.example.com"));
  ClientHello c = parse_client_hello(h);
  ASSERT_EQ(c.status, S::complete) << c.error;
  EXPECT_EQ(c.server_name, "a.example.com");
  EXPECT_TRUE(c.alpn.empty());
}

TEST(TlsClientHello, NoSniOrNotADnsName) {
  EXPECT_EQ(parse_client_hello(client_hello({})).server_name, "");
  for (const char* name : {"127.0.0.1", "::1", "a..b", "bad name.example", "a.b.300"}) {
    ClientHello c = parse_client_hello(client_hello(with_sni(name)));
    if (c.status == S::complete) {
      EXPECT_EQ(c.server_name, "") << name;   // never a name to match
    }
  }
  EXPECT_EQ(parse_client_hello(client_hello(with_sni("127.0.0.1"))).status, S::complete);
  // One trailing dot is dropped (as the termination path's SniMap does).
  EXPECT_EQ(parse_client_hello(client_hello(with_sni("App.example.com."))).server_name, "app.example.com");
}

TEST(TlsClientHello, EchMeansTheSniIsOnlyThePublicName) {
  std::string h = client_hello(with_extra("public.example.com", 0xfe0d, 200));
  ClientHello c = parse_client_hello(h);
  ASSERT_EQ(c.status, S::complete) << c.error;
  EXPECT_TRUE(c.ech);
  EXPECT_EQ(c.server_name, "public.example.com");
  EXPECT_TRUE(parse_client_hello(client_hello(with_extra("a.example", 0xffce, 10))).ech);
}

// A post-quantum-sized hello (~1.8 KiB) and one over 2^14 bytes, which
// OpenSSL itself sends as two records.
TEST(TlsClientHello, LargeAndFragmentedByOpenSsl) {
  std::string pq = client_hello(with_extra("pq.example", 0x7778, 1216));
  EXPECT_GT(pq.size(), 1400u);
  EXPECT_EQ(parse_client_hello(pq).server_name, "pq.example");

  std::string big = client_hello(with_extra("big.example", 0x7777, 20000));
  ASSERT_GT(big.size(), 16384u + 5);
  ClientHello c = parse_client_hello(big);
  ASSERT_EQ(c.status, S::complete) << c.error;
  EXPECT_EQ(c.length, big.size());
  EXPECT_EQ(c.server_name, "big.example");
  for (size_t n = 0; n < big.size(); n += 97) EXPECT_EQ(parse_client_hello(big.substr(0, n)).status, S::need_more) << n;
}

TEST(TlsClientHello, EveryPrefixWaitsForMore) {
  std::string h = client_hello(with_sni("agents.example.test", {"h2"}));
  for (size_t n = 0; n < h.size(); ++n) {
    ASSERT_EQ(parse_client_hello(h.substr(0, n)).status, S::need_more) << n;
  }
  // Bytes after it (a ChangeCipherSpec, early data) are not its.
  ClientHello c = parse_client_hello(h + record("\x01", 20));
  ASSERT_EQ(c.status, S::complete);
  EXPECT_EQ(c.length, h.size());
}

TEST(TlsClientHello, SplitAcrossRecordsEveryWay) {
  std::string h = client_hello(with_sni("agents.example.test", {"h2", "http/1.1"}));
  const ClientHello whole = parse_client_hello(h);
  const std::string msg = message_of(h);
  for (size_t cut = 1; cut < msg.size(); ++cut) {
    std::string two = split_records(msg, {cut});
    ClientHello c = parse_client_hello(two);
    ASSERT_EQ(c.status, S::complete) << "cut at " << cut << ": " << c.error;
    EXPECT_EQ(c.length, two.size());
    expect_same(c, whole);
    // ... and each of those arriving in two reads at every point.
    if (cut % 37 == 0) {
      for (size_t n = 0; n < two.size(); ++n) ASSERT_EQ(parse_client_hello(two.substr(0, n)).status, S::need_more);
    }
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < msg.size(); ++i) every_byte.push_back(i);
  std::string tiny = split_records(msg, every_byte);
  ClientHello c = parse_client_hello(tiny);
  ASSERT_EQ(c.status, S::complete) << c.error;
  EXPECT_EQ(c.length, tiny.size());
  expect_same(c, whole);
  for (size_t n = 0; n < tiny.size(); ++n) ASSERT_EQ(parse_client_hello(tiny.substr(0, n)).status, S::need_more);
}

// ---- not a ClientHello ------------------------------------------------------

TEST(TlsClientHello, RefusedFromTheFirstBytes) {
  EXPECT_EQ(parse_client_hello("G").status, S::not_tls);                     // plain HTTP
  EXPECT_EQ(parse_client_hello("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, S::not_tls);
  EXPECT_EQ(parse_client_hello("\x80\x2e\x01\x03\x01").status, S::not_tls);   // SSLv2-style
  EXPECT_EQ(parse_client_hello(std::string("\x15\x03\x03\x00\x02\x02\x28", 7)).status, S::not_tls);  // alert
  EXPECT_EQ(parse_client_hello("\x16\x02").status, S::not_tls);
  EXPECT_EQ(parse_client_hello("\x16").status, S::need_more);
  EXPECT_EQ(parse_client_hello("\x16\x03").status, S::need_more);
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03\x01\x00\x00", 5)).status, S::not_tls);   // empty record
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03\x01\x40\x01", 5)).status, S::not_tls);   // 2^14 + 1
  // A ServerHello, and a ClientHello too short for its fields.
  EXPECT_EQ(parse_client_hello(record(std::string("\x02\x00\x00\x30", 4) + std::string(48, 'x'))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(record(std::string("\x01\x00\x00\x05", 4) + std::string(5, 'x'))).status, S::not_tls);
}

TEST(TlsClientHello, OtherRecordTypesBetweenFragments) {
  std::string msg = message_of(client_hello(with_sni("a.example")));
  std::string r = record(msg.substr(0, 10)) + record("\x01", 20) + record(msg.substr(10));
  EXPECT_EQ(parse_client_hello(r).status, S::not_tls);
}

TEST(TlsClientHello, InconsistentLengths) {
  const std::string h = client_hello(with_sni("agents.example.test", {"h2"}));
  // The handshake length one more or less than the record holds.
  auto with_length = [&](size_t len) {
    std::string m = h;
    m[6] = static_cast<char>(len >> 16);
    m[7] = static_cast<char>((len >> 8) & 0xff);
    m[8] = static_cast<char>(len & 0xff);
    return m;
  };
  const size_t len = message_of(h).size() - 4;
  std::string longer = with_length(len + 1);
  EXPECT_EQ(parse_client_hello(longer).status, S::need_more);   // the rest may follow in a record
  EXPECT_EQ(parse_client_hello(longer + record("\x00", 20)).status, S::not_tls);
  std::string shorter = with_length(len - 1);
  EXPECT_EQ(parse_client_hello(shorter).status, S::not_tls);     // extensions overrun the message

  // Hand-built: extension blocks that do not add up.
  EXPECT_EQ(parse_client_hello(hand_hello(sni_ext("a.example"))).server_name, "a.example");
  EXPECT_EQ(parse_client_hello(hand_hello("", false)).status, S::complete);   // no extensions at all
  EXPECT_EQ(parse_client_hello(hand_hello(sni_ext("a.example") + "x")).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(sni_ext("a.example") + sni_ext("b.example"))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(ext(0, ""))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(ext(0, u16(0)))).status, S::not_tls);
  std::string two_names = std::string(1, '\0') + u16(1) + "a" + std::string(1, '\0') + u16(1) + "b";
  EXPECT_EQ(parse_client_hello(hand_hello(ext(0, u16(two_names.size()) + two_names))).status, S::not_tls);
  std::string other_type = std::string(1, '\x01') + u16(1) + "a";
  EXPECT_EQ(parse_client_hello(hand_hello(ext(0, u16(other_type.size()) + other_type))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(ext(16, u16(3) + "\x02h2"))).alpn, (std::vector<std::string>{"h2"}));
  EXPECT_EQ(parse_client_hello(hand_hello(ext(16, u16(4) + "\x02h2" + std::string(1, '\0')))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(ext(16, u16(0)))).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(hand_hello(ext(0xfe0d, "") + ext(0xfe0d, ""))).status, S::not_tls);
}

TEST(TlsClientHello, SizeBound) {
  // A message claiming more than the bound is refused once its header is in.
  std::string huge = std::string("\x16\x03\x01\x00\x04\x01\x00\x80\x00", 9);
  EXPECT_EQ(parse_client_hello(huge).status, S::not_tls);
  // Records that reach the bound without finishing the message: refused,
  // never "need more" with kMaxClientHelloBytes or more in hand.
  const size_t body = kMaxClientHelloBytes - 5 - 4 - 10;
  std::string msg = std::string{1, static_cast<char>(body >> 16), static_cast<char>((body >> 8) & 0xff),
                                static_cast<char>(body & 0xff)} +
                    std::string(body, 'z');
  std::string in;
  for (size_t i = 0; i < msg.size(); i += 1000) in += record(msg.substr(i, 1000));
  ASSERT_GE(in.size(), kMaxClientHelloBytes);
  EXPECT_EQ(parse_client_hello(in).status, S::not_tls);
  EXPECT_EQ(parse_client_hello(in.substr(0, kMaxClientHelloBytes)).status, S::not_tls);
}

// Every single-byte change of a real hello, and random bytes: an answer,
// no crash, and a complete one always lies within the input.
TEST(TlsClientHello, MutationsAndRandomBytes) {
  const std::string h = client_hello(with_sni("agents.example.test", {"h2", "http/1.1"}));
  for (size_t i = 0; i < h.size(); ++i) {
    for (uint8_t v : {0x00, 0x01, 0x7f, 0xff}) {
      std::string m = h;
      m[i] = static_cast<char>(static_cast<uint8_t>(m[i]) ^ v);
      ClientHello c = parse_client_hello(m);
      if (c.status == S::complete) {
        EXPECT_LE(c.length, m.size());
      }
    }
  }
  std::mt19937 rng(17);
  for (int i = 0; i < 2000; ++i) {
    std::string r(rng() % 600, '\0');
    for (char& c : r) c = static_cast<char>(rng());
    if (i % 2) r = std::string("\x16\x03\x01", 3) + r;
    ClientHello c = parse_client_hello(r);
    if (c.status == S::complete) {
      EXPECT_LE(c.length, r.size());
    }
  }
}

}  // namespace
}  // namespace gh::tls
