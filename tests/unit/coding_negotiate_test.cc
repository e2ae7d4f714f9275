// Accept-Encoding negotiation (RFC 9110 section 12.5.3): weights, "*",
// identity, several field lines, and malformed elements skipped.
#include "coding/negotiate.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

// Counts this thread's allocations, to show negotiate() makes none (it runs
// for every response the compress policy looks at).
#include "alloc_counter.h"

namespace gh::coding {
namespace {

using C = Coding;
constexpr C kAll[] = {C::zstd, C::br, C::gzip};   // the compress policy's default order

struct Case {
  std::vector<std::string_view> lines;   // empty: no Accept-Encoding at all
  std::vector<C> offered;
  C want;
  bool identity_ok = true;
};

std::string describe(const Case& c) {
  std::string s = "lines:";
  for (auto l : c.lines) s += " [" + std::string(l) + "]";
  s += " offered:";
  for (C o : c.offered) s += " " + std::string(token(o));
  return s;
}

void check(std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    Negotiated n = negotiate(c.lines, c.offered);
    EXPECT_EQ(token(n.coding), token(c.want)) << describe(c);
    EXPECT_EQ(n.identity_acceptable, c.identity_ok) << describe(c);
  }
}

const std::vector<C> all(std::begin(kAll), std::end(kAll));

TEST(Negotiate, AbsentAndEmpty) {
  check({
      {{}, all, C::identity},                 // no field: a proxy must not compress
      {{""}, all, C::identity},               // empty value: no coding wanted
      {{"", ""}, all, C::identity},
      {{" \t "}, all, C::identity},
      {{",,,"}, all, C::identity},
      {{"gzip"}, {}, C::identity},            // nothing offered
  });
}

TEST(Negotiate, QValuesAndServerOrder) {
  check({
      {{"gzip"}, all, C::gzip},
      {{"gzip, br"}, all, C::br},                          // tie: server's order
      {{"gzip, br, zstd"}, all, C::zstd},
      {{"gzip, br, zstd"}, {C::gzip, C::br}, C::gzip},
      {{"gzip;q=1, br;q=0.5"}, all, C::gzip},
      {{"br;q=0.8, gzip;q=0.9, zstd;q=0.1"}, all, C::gzip},
      {{"br;q=0.001, gzip;q=0.002"}, all, C::gzip},
      {{"gzip;q=1.000, br;q=0.999"}, all, C::gzip},
      {{"gzip;q=0"}, all, C::identity},                    // q=0: not acceptable
      {{"gzip;q=0.000, br"}, all, C::br},
      {{"gzip;q=0., br"}, all, C::br},                     // "0." is a qvalue
      {{"gzip;q=1."}, all, C::gzip},
      {{"deflate, compress, exi"}, all, C::identity},      // codings we do not offer
      {{"deflate;q=1, gzip;q=0.1"}, all, C::gzip},
  });
}

TEST(Negotiate, Star) {
  check({
      {{"*"}, all, C::zstd},
      {{"*"}, {C::gzip, C::br}, C::gzip},
      {{"br;q=0, *"}, {C::br, C::gzip}, C::gzip},          // a listed coding beats "*"
      {{"gzip;q=0.5, *;q=0.8"}, {C::gzip, C::br}, C::br},  // "*" weighs the unlisted
      {{"gzip;q=0.9, *;q=0.8"}, {C::br, C::gzip}, C::gzip},
      {{"*;q=0"}, all, C::identity, false},                // refuses identity too
      {{"*;q=0, identity"}, all, C::identity, true},
      {{"*;q=0, identity;q=0.5"}, all, C::identity, true},
      {{"*;q=0, gzip"}, all, C::gzip, false},
      {{"*;q=0.5"}, {C::identity, C::gzip}, C::identity},  // tie: server's order
  });
}

TEST(Negotiate, Identity) {
  check({
      {{"identity;q=0"}, all, C::identity, false},
      {{"identity;q=0, gzip"}, all, C::gzip, false},
      {{"identity"}, all, C::identity, true},
      {{"identity;q=0.5, *;q=0"}, all, C::identity, true},
      // identity competes only when offered; listed, it has its weight...
      {{"gzip;q=0.5, identity"}, {C::gzip, C::identity}, C::identity},
      {{"gzip;q=0.5, identity;q=0.4"}, {C::gzip, C::identity}, C::gzip},
      // ...unlisted, it ranks below anything the client listed.
      {{"gzip;q=0.001"}, {C::identity, C::gzip}, C::gzip},
      {{"br;q=0"}, {C::br, C::identity}, C::identity, true},
  });
}

TEST(Negotiate, SeveralFieldLines) {
  check({
      {{"gzip;q=0.5", "br"}, all, C::br},
      {{"gzip", "br;q=0.5"}, all, C::gzip},
      {{"", "gzip"}, all, C::gzip},
      {{"gzip;q=0", "gzip"}, all, C::identity},            // the first element counts
      {{"*;q=0", "identity"}, all, C::identity, true},
      {{"identity;q=0", "*"}, all, C::zstd, false},
  });
}

TEST(Negotiate, CaseAndWhitespace) {
  check({
      {{"GZIP"}, all, C::gzip},
      {{"GZip;Q=0.5, Br;q=0.4"}, all, C::gzip},
      {{"ZSTD;Q=0"}, all, C::identity},
      {{"IDENTITY;q=0"}, all, C::identity, false},
      {{" \t gzip \t ; \t q=0.5 \t ,br ; q=0.6 "}, all, C::br},
      {{"gzip ;q=0.5,br;q=0.4"}, all, C::gzip},
      {{"gzip;q=0.5\t,\tbr;q=0.4"}, all, C::gzip},
  });
}

TEST(Negotiate, XGzip) {
  check({
      {{"x-gzip"}, all, C::gzip},
      {{"X-Gzip;q=0.9, br;q=0.8"}, all, C::gzip},
      {{"x-gzip;q=0, gzip"}, all, C::identity},            // the same coding: first counts
      {{"gzip;q=0.1, x-gzip, br;q=0.5"}, all, C::br},
  });
}

TEST(Negotiate, DuplicatesFirstCounts) {
  check({
      {{"gzip;q=0.1, gzip, br;q=0.5"}, all, C::br},
      {{"gzip, gzip;q=0"}, all, C::gzip},
      {{"*;q=0.1, *, br;q=0.5"}, {C::gzip, C::br}, C::br},
  });
}

TEST(Negotiate, BadElementsAreSkipped) {
  // A skipped element is as if absent: br then falls under "*" (or nothing).
  for (std::string_view bad : {"br;q=2", "br;q=1.001", "br;q=0.5555", "br;q=.5", "br;q=-1",
                               "br;q=", "br;q=abc", "br;q=0.5x", "br;q = 0.5", "br; q =0.5",
                               "br;q=0.5;q=0.6", "br;level=5", "br;", "br;;q=1", "br q=1",
                               "b r", "br;q=\"1\"", "br/1", "\"br\"", "br;q=0.5 x"}) {
    std::string with_star = std::string(bad) + ", *;q=0.3, gzip;q=0.2";
    check({
        {{bad}, {C::br}, C::identity},
        {{with_star}, {C::gzip, C::br}, C::br},
    });
  }
}

TEST(Negotiate, QuotedCommasDoNotSplit) {
  check({
      {{"gzip;x=\"a, br\""}, {C::br}, C::identity},
      {{"gzip;x=\"a, br\", zstd"}, all, C::zstd},
      {{"gzip;x=\"a\\\", br\", zstd;q=0.1"}, {C::br, C::zstd}, C::zstd},
      {{"gzip;x=\"unterminated, br"}, {C::br}, C::identity},
      {{"gzip;x=\"ends in a backslash\\"}, all, C::identity},
  });
}

TEST(Negotiate, DoesNotAllocate) {
  const std::string_view lines[] = {
      "gzip;q=0.5, br;q=0.8, zstd;q=0.7, identity;q=0.1, *;q=0, deflate, x-gzip",
      "foo;bar=\"a, b\", BR;Q=1.000, ,,", std::string_view()};
  size_t before = test_allocations();
  Negotiated n = negotiate(lines, kAll);
  EXPECT_EQ(test_allocations(), before);
  EXPECT_EQ(n.coding, C::br);
  EXPECT_TRUE(n.identity_acceptable);
}

TEST(Coding, TokensAndParse) {
  EXPECT_EQ(token(C::identity), "identity");
  EXPECT_EQ(token(C::gzip), "gzip");
  EXPECT_EQ(token(C::br), "br");
  EXPECT_EQ(token(C::zstd), "zstd");
  for (C c : {C::identity, C::gzip, C::br, C::zstd}) {
    EXPECT_EQ(parse_coding(token(c)), c);
  }
  EXPECT_EQ(parse_coding("GZIP"), C::gzip);
  EXPECT_EQ(parse_coding("x-gzip"), C::gzip);
  EXPECT_EQ(parse_coding("X-GZIP"), C::gzip);
  EXPECT_EQ(parse_coding("Br"), C::br);
  EXPECT_EQ(parse_coding("ZStd"), C::zstd);
  EXPECT_EQ(parse_coding("Identity"), C::identity);
  for (std::string_view bad : {"", "*", "deflate", "compress", "x-compress", "brotli", " gzip",
                               "gzip ", "gzip;q=1", "gzi", "gzipp", "x-br", "zstd1"}) {
    EXPECT_EQ(parse_coding(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace gh::coding
