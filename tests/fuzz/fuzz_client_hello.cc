// libFuzzer target: the ClientHello reader (src/tls/client_hello.cc), which
// sees the first bytes of every connection on the TLS listener when `sni`
// streams are configured, before any TLS is done.
//
// The input is the bytes a client sent. Checks (beyond no crash, no UB, no leak):
//  - complete: its length lies within the input, its records alone read the
//    same, and one byte fewer waits for more (no decision on a prefix);
//  - the same ClientHello cut into two records at another point reads the same;
//  - a server_name is lower case, without a trailing dot;
//  - never need_more once kMaxClientHelloBytes are in hand (the peek ends).
#include <cstdint>
#include <string>
#include <string_view>

#include "tls/client_hello.h"

#include "fuzz_check.h"

using namespace gh::tls;

namespace {

void same(const ClientHello& a, const ClientHello& b) {
  FUZZ_CHECK(a.status == b.status);
  FUZZ_CHECK(a.server_name == b.server_name);
  FUZZ_CHECK(a.alpn == b.alpn);
  FUZZ_CHECK(a.ech == b.ech);
}

std::string record(std::string_view fragment) {
  return std::string{22, 3, 1, static_cast<char>(fragment.size() >> 8), static_cast<char>(fragment.size() & 0xff)} +
         std::string(fragment);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ClientHello c = parse_client_hello(in);
  if (size >= kMaxClientHelloBytes) FUZZ_CHECK(c.status != ClientHelloStatus::need_more);
  if (c.status == ClientHelloStatus::not_tls) FUZZ_CHECK(c.error[0] != '\0');
  if (c.status != ClientHelloStatus::complete) return 0;

  FUZZ_CHECK(c.length > 0 && c.length <= size);
  same(parse_client_hello(in.substr(0, c.length)), c);
  FUZZ_CHECK(parse_client_hello(in.substr(0, c.length - 1)).status == ClientHelloStatus::need_more);
  for (char ch : c.server_name) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));
  FUZZ_CHECK(c.server_name.empty() || c.server_name.back() != '.');

  // One record holding the whole message with nothing after it: cut in two.
  const size_t rec = (static_cast<size_t>(data[3]) << 8) | data[4];
  if (c.length == 5 + rec && rec >= 2) {
    const size_t msg_len = 4 + ((static_cast<size_t>(data[6]) << 16) | (static_cast<size_t>(data[7]) << 8) | data[8]);
    if (msg_len == rec) {
      const std::string_view msg = in.substr(5, rec);
      const size_t cut = 1 + (rec * 7 / 13) % (rec - 1);
      const std::string two = record(msg.substr(0, cut)) + record(msg.substr(cut));
      const ClientHello d = parse_client_hello(two);
      same(d, c);
      FUZZ_CHECK(d.length == two.size());
    }
  }
  return 0;
}
