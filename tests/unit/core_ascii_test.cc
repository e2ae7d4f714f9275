// core/ascii.h: ASCII-only digits and case folding, whatever the locale.
#include <gtest/gtest.h>

#include <clocale>
#include <string>

#include "core/ascii.h"
#include "http/token.h"

namespace gh::core {
namespace core_ascii_test {

TEST(Ascii, DigitsAreTheTenAsciiDigitsOnly) {
  int n = 0;
  for (int c = -128; c < 128; ++c) n += is_digit(static_cast<char>(c));
  EXPECT_EQ(n, 10);
  EXPECT_TRUE(is_digit('0'));
  EXPECT_TRUE(is_digit('9'));
  EXPECT_FALSE(is_digit('/'));
  EXPECT_FALSE(is_digit(':'));
  EXPECT_FALSE(is_digit(static_cast<char>(0xB2)));   // Latin-1 superscript two
}

TEST(Ascii, LowerFoldsOnlyAsciiLetters) {
  for (int c = -128; c < 128; ++c) {
    const char ch = static_cast<char>(c);
    const char want = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    EXPECT_EQ(ascii_lower(ch), want) << c;
  }
  // A locale that folds Latin-1 changes nothing here.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  EXPECT_EQ(ascii_lowered("X-Forwarded-FOR \xC3\x89"), "x-forwarded-for \xC3\x89");
  std::setlocale(LC_CTYPE, "C");
  EXPECT_EQ(ascii_lowered(""), "");
}

TEST(Ascii, HttpTokenNamesTheSameRules) {
  static_assert(http::ascii_lower('Q') == 'q');
  static_assert(http::is_digit('7') && !http::is_digit('a'));
  static_assert(http::is_ows(' ') && http::is_ows('\t') && !http::is_ows('\n'));
  static_assert(http::is_tchar('!') && !http::is_tchar('('));
  static_assert(http::is_tchar(static_cast<unsigned char>('~')));
  EXPECT_EQ(http::trim_ows(" \t a b\t "), "a b");
}

}  // namespace core_ascii_test
}  // namespace gh::core
