// ssl.ticket_key_file: parsing HAProxy-format key files, which key seals,
// every listed key opening, and tickets crossing processes that read the
// same file (two TicketKeys rings stand for two processes).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls/server_context.h"
#include "tls/ticket_key_file.h"
#include "tls/ticket_keys.h"
#include "tls_test_pki.h"

namespace gh::tls {
namespace tls_ticket_keys_test {

using namespace testpki;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string b64(const std::vector<unsigned char>& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), raw.data(),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Raw bytes of a key: name byte 0 = `tag`, the rest random.
std::vector<unsigned char> raw_key(unsigned char tag, size_t len = 80) {
  std::vector<unsigned char> k(len);
  RAND_bytes(k.data(), static_cast<int>(len));
  k[0] = tag;
  return k;
}

std::shared_ptr<const TicketKeySet> parse(const std::string& text, std::string* why = nullptr) {
  std::string err;
  auto s = parse_ticket_keys(text, err);
  if (why) *why = err;
  return s;
}

// Seals a block as OpenSSL's ticket callback would and opens it elsewhere.
struct Sealed {
  unsigned char name[16]{};
  unsigned char iv[EVP_MAX_IV_LENGTH]{};
  std::string bytes;
};

EVP_MAC_CTX* new_mac() {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* m = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  return m;
}

// Also MACs the ciphertext, so a wrong HMAC key would show.
std::string mac_of(EVP_MAC_CTX* m, const std::string& data) {
  unsigned char out[64];
  size_t n = 0;
  EVP_MAC_init(m, nullptr, 0, nullptr);
  EVP_MAC_update(m, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MAC_final(m, out, &n, sizeof out);
  return std::string(reinterpret_cast<char*>(out), n);
}

int seal(TicketKeys& keys, Sealed& s, std::string* mac = nullptr) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_MAC_CTX* m = new_mac();
  int rc = keys.encrypt(s.name, s.iv, c, m, TicketKeys::Clock::now());
  if (rc == 1) {
    unsigned char out[64];
    int n = 0, f = 0;
    const unsigned char plain[16] = {'s', 'e', 's', 's', 'i', 'o', 'n'};
    EVP_EncryptUpdate(c, out, &n, plain, sizeof plain);
    EVP_EncryptFinal_ex(c, out + n, &f);
    s.bytes.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n + f));
    if (mac) *mac = mac_of(m, s.bytes);
  }
  EVP_CIPHER_CTX_free(c);
  EVP_MAC_CTX_free(m);
  return rc;
}

// decrypt()'s verdict; when a key was found, the block must open and MAC alike.
int open(TicketKeys& keys, const Sealed& s, const std::string& mac = "") {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_MAC_CTX* m = new_mac();
  int rc = keys.decrypt(s.name, s.iv, c, m, TicketKeys::Clock::now());
  if (rc > 0) {
    unsigned char out[64];
    int n = 0, f = 0;
    EVP_DecryptUpdate(c, out, &n, reinterpret_cast<const unsigned char*>(s.bytes.data()),
                      static_cast<int>(s.bytes.size()));
    EXPECT_EQ(EVP_DecryptFinal_ex(c, out + n, &f), 1);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 7), "session");
    if (!mac.empty()) {
      EXPECT_EQ(mac_of(m, s.bytes), mac);
    }
  }
  EVP_CIPHER_CTX_free(c);
  EVP_MAC_CTX_free(m);
  return rc;
}

// ---- parsing ------------------------------------------------------------------

TEST(TlsTicketKeyFile, ParsesHaproxyLayoutOldestFirst) {
  auto k0 = raw_key(0xa0), k1 = raw_key(0xa1), k2 = raw_key(0xa2);
  std::string text = "# fleet keys, oldest first\n\n" + b64(k0) + "\n  " + b64(k1) + "  \r\n" + b64(k2);
  std::string why;
  auto set = parse(text, &why);
  ASSERT_TRUE(set) << why;
  ASSERT_EQ(set->keys.size(), 3u);
  EXPECT_EQ(set->lines, (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(set->encrypting, 1u) << "the second-to-last key seals";
  const TicketKey& k = set->keys[2];
  EXPECT_FALSE(k.aes128);
  // HAProxy's tls_sess_key_256: name[16], aes_key[32], hmac_key[32].
  EXPECT_TRUE(std::equal(k.name.begin(), k.name.end(), k2.begin()));
  EXPECT_TRUE(std::equal(k.aes.begin(), k.aes.end(), k2.begin() + 16));
  EXPECT_TRUE(std::equal(k.hmac.begin(), k.hmac.end(), k2.begin() + 48));
}

TEST(TlsTicketKeyFile, OneKeySealsItselfAndShortKeysAreAccepted) {
  auto one = parse(b64(raw_key(1)) + "\n");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->encrypting, 0u);
  auto short_keys = parse(b64(raw_key(1, 48)) + "\n" + b64(raw_key(2, 48)) + "\n");
  ASSERT_TRUE(short_keys);
  EXPECT_TRUE(short_keys->keys[0].aes128);
  EXPECT_EQ(short_keys->encrypting, 0u);
}

TEST(TlsTicketKeyFile, RefusesBadLines) {
  std::string good = b64(raw_key(1));
  std::string why;
  EXPECT_FALSE(parse(good + "\nnot base64 at all!\n", &why));
  EXPECT_TRUE(contains(why, "line 2: not a base64 key")) << why;
  EXPECT_FALSE(parse(good.substr(0, good.size() - 1) + "\n", &why)) << "unpadded";
  EXPECT_TRUE(contains(why, "line 1: not a base64 key")) << why;
  EXPECT_FALSE(parse(good + "\n" + b64(raw_key(2, 64)) + "\n", &why));
  EXPECT_TRUE(contains(why, "line 2: a key is 64 bytes; it must be 80")) << why;
  EXPECT_FALSE(parse(b64(raw_key(2, 81)), &why));
  EXPECT_TRUE(contains(why, "a key is 81 bytes")) << why;
  EXPECT_FALSE(parse(good + "\n" + b64(raw_key(2, 48)) + "\n", &why));
  EXPECT_TRUE(contains(why, "line 2: 48-byte and 80-byte keys are mixed")) << why;
  auto dup = raw_key(1);
  auto dup2 = dup;
  dup2[40] ^= 1;  // same name, other material
  EXPECT_FALSE(parse(b64(dup) + "\n" + good + "\n" + b64(dup2) + "\n", &why));
  EXPECT_TRUE(contains(why, "line 3: the key name (first 16 bytes) repeats line 1")) << why;
  EXPECT_FALSE(parse("# only a comment\n\n", &why));
  EXPECT_TRUE(contains(why, "no key in the file")) << why;
  EXPECT_FALSE(parse("", &why));
  EXPECT_FALSE(parse(good.substr(0, 20) + "=" + good.substr(21) + "\n", &why)) << "padding inside";
}

TEST(TlsTicketKeyFile, LoadNamesTheFile) {
  TempDir dir;
  std::string err;
  std::string missing = dir.path() + "/none.keys";
  EXPECT_FALSE(load_ticket_key_file(missing, err));
  EXPECT_TRUE(contains(err, missing + ": cannot open")) << err;
  std::string bad = dir.write("bad.keys", "AAAA\n");
  EXPECT_FALSE(load_ticket_key_file(bad, err));
  EXPECT_EQ(err, bad + ": line 1: a key is 3 bytes; it must be 80 (16 name + 32 AES-256 + 32 HMAC) or 48 (AES-128)");
  std::string big = dir.write("big.keys", std::string(kMaxTicketKeyFileBytes + 1, '#'));
  EXPECT_FALSE(load_ticket_key_file(big, err));
  EXPECT_TRUE(contains(err, "not a key file")) << err;
  std::string ok = dir.write("ok.keys", b64(raw_key(1)) + "\n");
  auto set = load_ticket_key_file(ok, err);
  ASSERT_TRUE(set) << err;
  EXPECT_EQ(set->source, ok);
}

// ---- sealing and opening --------------------------------------------------------

TEST(TlsTicketKeyFile, SecondToLastSealsAndEveryKeyOpens) {
  auto k0 = raw_key(0xb0), k1 = raw_key(0xb1), k2 = raw_key(0xb2);
  TicketKeys ring;
  ring.use_file_keys(parse(b64(k0) + "\n" + b64(k1) + "\n" + b64(k2) + "\n"));
  Sealed s;
  std::string mac;
  ASSERT_EQ(seal(ring, s, &mac), 1);
  EXPECT_EQ(s.name[0], 0xb1) << "sealed with the second-to-last key";
  EXPECT_EQ(open(ring, s, mac), 1);

  // Tickets sealed by a process whose file made k0 (then k2) the sealing key.
  for (const auto& only : {k0, k2}) {
    TicketKeys other;
    other.use_file_keys(parse(b64(only) + "\n"));
    Sealed o;
    std::string omac;
    ASSERT_EQ(seal(other, o, &omac), 1);
    EXPECT_EQ(o.name[0], only[0]);
    EXPECT_EQ(open(ring, o, omac), 2) << "listed but not sealing: opens, and a fresh ticket is asked for";
  }

  // An unknown name: a full handshake, not an error.
  s.name[0] = 0xee;
  EXPECT_EQ(open(ring, s), 0);
}

TEST(TlsTicketKeyFile, TwoProcessesReadingOneFileShareTickets) {
  std::string text = b64(raw_key(0xc0)) + "\n" + b64(raw_key(0xc1)) + "\n";
  TicketKeys a, b, lone;
  a.use_file_keys(parse(text));
  b.use_file_keys(parse(text));  // parsed separately, as another process would
  Sealed s;
  std::string mac;
  ASSERT_EQ(seal(a, s, &mac), 1);
  EXPECT_EQ(open(b, s, mac), 1);
  EXPECT_EQ(open(lone, s), 0) << "a process without the file cannot open it";

  // Short keys (AES-128) cross too.
  std::string short_text = b64(raw_key(0xd0, 48)) + "\n";
  a.use_file_keys(parse(short_text));
  b.use_file_keys(parse(short_text));
  Sealed t;
  ASSERT_EQ(seal(a, t, &mac), 1);
  EXPECT_EQ(open(b, t, mac), 1);
}

TEST(TlsTicketKeyFile, BackToTheRingWithoutAFile) {
  TicketKeys ring;
  Sealed from_ring;
  ASSERT_EQ(seal(ring, from_ring), 1);
  ring.use_file_keys(parse(b64(raw_key(0xe0)) + "\n"));
  EXPECT_NE(ring.file_keys(), nullptr);
  EXPECT_EQ(open(ring, from_ring), 0) << "the file's keys replace the ring";
  Sealed from_file;
  ASSERT_EQ(seal(ring, from_file), 1);
  EXPECT_EQ(from_file.name[0], 0xe0);
  ring.use_file_keys(nullptr);
  EXPECT_EQ(ring.file_keys(), nullptr);
  EXPECT_EQ(open(ring, from_ring), 1) << "the ring's keys are back";
  EXPECT_EQ(open(ring, from_file), 0);
}

// ---- through real handshakes ----------------------------------------------------

class TlsTicketKeyHandshake : public ::testing::TestWithParam<int> {
 protected:
  void TearDown() override { TicketKeys::process().use_file_keys(nullptr); }
  TempDir dir;
  Issued ca = make_ca("Test Root");
};

TEST_P(TlsTicketKeyHandshake, ResumesAcrossContextsReadingTheSameFile) {
  auto pair = dir.write_pair("a", issue("a", {"DNS:a.test"}, false, &ca));
  config::Ssl ssl;
  ssl.enabled = true;
  ssl.cert_file = pair.first;
  ssl.key_file = pair.second;
  ssl.ticket_key_file = dir.write("t.keys", b64(raw_key(1)) + "\n" + b64(raw_key(2)) + "\n");
  std::string err;
  auto first = ServerContext::create(ssl, err);
  ASSERT_TRUE(first) << err;
  first->use_ticket_keys();

  SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_max_proto_version(c.get(), GetParam());
  auto handshake = [&](ServerContext& s, SSL_SESSION* sess) {
    SslPtr cl(SSL_new(c.get())), sv(SSL_new(s.native_handle()));
    SSL_set_tlsext_host_name(cl.get(), "a.test");
    if (sess) SSL_set_session(cl.get(), sess);
    Handshake h = run_handshake(cl.get(), sv.get());
    EXPECT_TRUE(h.ok) << h.client_error << " / " << h.server_error;
    // As after a close_notify: freeing an SSL that did not shut down
    // marks its session not resumable.
    SSL_set_shutdown(cl.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return std::make_pair(SSL_session_reused(sv.get()), SSL_get1_session(cl.get()));
  };
  auto [reused0, sess] = handshake(*first, nullptr);
  EXPECT_EQ(reused0, 0);
  ASSERT_NE(sess, nullptr);

  // The in-memory ring (another process without the file): no resumption.
  TicketKeys::process().use_file_keys(nullptr);
  auto [reused1, s1] = handshake(*first, sess);
  EXPECT_EQ(reused1, 0);
  SSL_SESSION_free(s1);

  // A context built afresh from the same file (a restart, or another process).
  auto second = ServerContext::create(ssl, err);
  ASSERT_TRUE(second) << err;
  second->use_ticket_keys();
  auto [reused2, s2] = handshake(*second, sess);
  EXPECT_EQ(reused2, 1);
  SSL_SESSION_free(s2);

  // A malformed file refuses the context (a reload is rejected).
  dir.write("t.keys", "garbage\n");
  EXPECT_FALSE(ServerContext::create(ssl, err));
  EXPECT_TRUE(contains(err, "ssl.ticket_key_file " + ssl.ticket_key_file + ": line 1")) << err;
  SSL_SESSION_free(sess);
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsTicketKeyHandshake,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const auto& info) { return info.param == TLS1_2_VERSION ? "tls12" : "tls13"; });

}  // namespace tls_ticket_keys_test
}  // namespace gh::tls
