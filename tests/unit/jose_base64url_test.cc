// base64url as JOSE uses it: no padding, one encoding per byte string.
#include <gtest/gtest.h>

#include "jose/base64url.h"

using gh::jose::base64url_decode;
using gh::jose::base64url_encode;

TEST(Base64url, RoundTripsEveryLength) {
  std::string s;
  for (int i = 0; i < 40; ++i) {
    auto back = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(back) << i;
    EXPECT_EQ(*back, s);
    s.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64url, Rfc4648Vectors) {
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");   // the URL-safe letters
  EXPECT_EQ(*base64url_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(*base64url_decode(""), "");
}

TEST(Base64url, RefusesPaddingOtherAlphabetsAndBadLengths) {
  EXPECT_FALSE(base64url_decode("Zg=="));    // padding
  EXPECT_FALSE(base64url_decode("Zg="));
  EXPECT_FALSE(base64url_decode("+/8"));     // standard base64's letters
  EXPECT_FALSE(base64url_decode("Zm 9v"));   // whitespace
  EXPECT_FALSE(base64url_decode("Zm9vY"));   // 5 = 1 mod 4: no byte string encodes so
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

TEST(Base64url, RefusesNonCanonicalTrailingBits) {
  // "Zg" is "f"; "Zh" has the same 8 bits plus non-zero leftovers.
  EXPECT_TRUE(base64url_decode("Zg"));
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_FALSE(base64url_decode("Zm9"));   // "fo" is "Zm8"
}
