// cache::parse_range and cache::if_range_holds (RFC 9110 14.1.2, 13.1.5).
#include "cache/range.h"

#include <gtest/gtest.h>

#include <vector>

using namespace gh::cache;
using gh::http::Field;
using K = ByteRange::Kind;

TEST(Range, OneRangeWithinTheRepresentation) {
  ByteRange r = parse_range("bytes=0-9", 100);
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  r = parse_range("bytes=90-", 100);
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  r = parse_range("  Bytes = 5-5 ", 100);   // unit case-insensitive, OWS around
  EXPECT_EQ(r.kind, K::none);               // (no OWS allowed before '=')
  r = parse_range("BYTES=5-5", 100);
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.first, 5u);
  EXPECT_EQ(r.last, 5u);
}

TEST(Range, LastPastTheEndIsClipped) {
  ByteRange r = parse_range("bytes=50-1000", 100);
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.last, 99u);
}

TEST(Range, SuffixRanges) {
  ByteRange r = parse_range("bytes=-10", 100);
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  r = parse_range("bytes=-1000", 100);   // more than there is: all of it
  EXPECT_EQ(r.kind, K::satisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(parse_range("bytes=-0", 100).kind, K::unsatisfiable);
}

TEST(Range, Unsatisfiable) {
  EXPECT_EQ(parse_range("bytes=100-", 100).kind, K::unsatisfiable);
  EXPECT_EQ(parse_range("bytes=200-300", 100).kind, K::unsatisfiable);
  EXPECT_EQ(parse_range("bytes=0-0", 0).kind, K::unsatisfiable);
  EXPECT_EQ(parse_range("bytes=-5", 0).kind, K::unsatisfiable);
}

TEST(Range, IgnoredForms) {
  for (const char* v : {"", "bytes", "bytes=", "bytes=-", "items=0-1", "bytes=0-1,5-6", "bytes=5-1",
                        "bytes=+1-2", "bytes=a-b", "bytes=1 -2", "bytes=0x1-2",
                        "bytes=99999999999999999999-"})
    EXPECT_EQ(parse_range(v, 100).kind, K::none) << v;
}

TEST(IfRange, AbsentHolds) {
  std::vector<Field> req, stored{{"ETag", "\"a\""}};
  EXPECT_TRUE(if_range_holds(req, stored));
}

TEST(IfRange, StrongEntityTagMustMatchStrongly) {
  std::vector<Field> stored{{"ETag", "\"a\""}};
  std::vector<Field> same{{"If-Range", "\"a\""}}, other{{"If-Range", "\"b\""}},
      weak{{"If-Range", "W/\"a\""}};
  EXPECT_TRUE(if_range_holds(same, stored));
  EXPECT_FALSE(if_range_holds(other, stored));
  EXPECT_FALSE(if_range_holds(weak, stored));
  std::vector<Field> weak_stored{{"ETag", "W/\"a\""}};
  EXPECT_FALSE(if_range_holds(same, weak_stored));
  EXPECT_FALSE(if_range_holds(same, {}));
}

TEST(IfRange, DateMustEqualLastModified) {
  std::vector<Field> stored{{"Last-Modified", "Tue, 15 Nov 1994 12:45:26 GMT"}};
  std::vector<Field> same{{"If-Range", "Tue, 15 Nov 1994 12:45:26 GMT"}},
      later{{"If-Range", "Wed, 16 Nov 1994 12:45:26 GMT"}};
  EXPECT_TRUE(if_range_holds(same, stored));
  EXPECT_FALSE(if_range_holds(later, stored));
  EXPECT_FALSE(if_range_holds(same, {}));
}
