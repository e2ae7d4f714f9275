// libFuzzer target: the PROXY protocol header parser (src/net/proxy_protocol),
// which reads the first bytes of every connection from a trusted balancer
// when server.proxy_protocol is on.
//
// Checks (beyond no crash, no UB, no leak, never a read past the input):
//  - complete: the length lies within the input and kMaxHeader, and the
//    header alone parses the same; every shorter prefix is need_more (the
//    peek that feeds it grows byte by byte in the worst case);
//  - need_more: fewer than kMaxHeader bytes, and every prefix is need_more;
//  - invalid: a reason is given, and more bytes do not make it valid;
//  - a complete, non-local header's two addresses are of one family.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "net/proxy_protocol.h"

#include "fuzz_check.h"

using namespace gh::net::proxy_protocol;

namespace {

// The parser must not look past the view: give it an exact-size heap copy,
// so ASan sees any overread.
ParseResult parse_exact(std::string_view in) {
  std::unique_ptr<char[]> copy(new char[in.size() ? in.size() : 1]);
  if (!in.empty()) std::memcpy(copy.get(), in.data(), in.size());
  return parse(std::string_view(copy.get(), in.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ParseResult r = parse_exact(in);
  switch (r.status) {
    case Status::complete: {
      FUZZ_CHECK(r.length > 0 && r.length <= in.size() && r.length <= kMaxHeader);
      FUZZ_CHECK(r.error.empty());
      const ParseResult alone = parse_exact(in.substr(0, r.length));
      FUZZ_CHECK(alone.status == Status::complete && alone.length == r.length);
      FUZZ_CHECK(alone.addresses.local == r.addresses.local);
      FUZZ_CHECK(alone.addresses.source == r.addresses.source);
      for (size_t n = 0; n < r.length; ++n)
        FUZZ_CHECK(parse_exact(in.substr(0, n)).status == Status::need_more);
      if (!r.addresses.local) {
        FUZZ_CHECK(r.addresses.source.address().is_v4() == r.addresses.destination.address().is_v4());
      }
      break;
    }
    case Status::need_more:
      FUZZ_CHECK(in.size() < kMaxHeader);
      for (size_t n = 0; n < in.size(); ++n)
        FUZZ_CHECK(parse_exact(in.substr(0, n)).status == Status::need_more);
      break;
    case Status::invalid: {
      FUZZ_CHECK(!r.error.empty());
      std::string more(in);
      more.append("\r\n\0PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 36);
      FUZZ_CHECK(parse_exact(more).status == Status::invalid);
      break;
    }
  }
  return 0;
}
