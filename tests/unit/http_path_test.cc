// normalize_path: the table of spellings (dot segments, repeated slashes,
// escapes of unreserved characters, reserved escapes, case of escapes,
// parameters, queries) and the refusals; then properties over every short
// path (idempotent, never longer, refusals leave the output alone).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/path.h"

namespace gh::http {
namespace {

struct Case {
  std::string_view in;
  std::string_view want;  // normal form, or "" when refused with `status`
  PathStatus status = PathStatus::ok;
};

constexpr PathStatus kNotAbsolute = PathStatus::not_absolute;
constexpr PathStatus kBadEscape = PathStatus::bad_escape;
constexpr PathStatus kBadByte = PathStatus::bad_byte;
constexpr PathStatus kAboveRoot = PathStatus::above_root;

const Case kCases[] = {
    // Already normal.
    {"/", "/"},
    {"/a", "/a"},
    {"/a/", "/a/"},
    {"/a/b/c", "/a/b/c"},
    {"/a.b/c..d/.e/f.", "/a.b/c..d/.e/f."},  // dots inside names are names
    {"/...", "/..."},
    // Dot segments (RFC 3986 5.2.4).
    {"/a/./b", "/a/b"},
    {"/a/../b", "/b"},
    {"/a/b/../../c", "/c"},
    {"/public/../admin/x", "/admin/x"},
    {"/a/b/./c", "/a/b/c"},
    {"/.", "/"},
    {"/./", "/"},
    {"/a/.", "/a/"},           // a final "." leaves the trailing '/'
    {"/a/..", "/"},
    {"/a/b/..", "/a/"},
    {"/a/b/../", "/a/"},
    {"/a/./../b", "/b"},
    // Above the root.
    {"/..", "", kAboveRoot},
    {"/../x", "", kAboveRoot},
    {"/a/../../x", "", kAboveRoot},
    {"/./..", "", kAboveRoot},
    {"//..", "", kAboveRoot},
    {"/%2e%2e/x", "", kAboveRoot},
    {"/..;x/y", "", kAboveRoot},
    // Repeated slashes merge, before dot segments (as nginx does).
    {"//", "/"},
    {"/a//b", "/a/b"},
    {"/a//b/./c", "/a/b/c"},
    {"///a///b///", "/a/b/"},
    {"/a//..", "/"},           // RFC 3986 alone: "/a/"
    {"/a/b//../c", "/a/c"},
    // Escapes of unreserved characters are decoded.
    {"/%41", "/A"},
    {"/%61dmin/x", "/admin/x"},
    {"/%7e", "/~"},
    {"/%7E", "/~"},
    {"/%2D%5F%30%7a", "/-_0z"},
    {"/a%2e", "/a."},
    {"/%2e/b", "/b"},          // "%2e" is "." and then a dot segment
    {"/a/%2E%2e/b", "/b"},
    {"/a/.%2e", "/"},
    // Other escapes stay, upper-cased.
    {"/a%2Fb", "/a%2Fb"},      // never a separator
    {"/a%2fb", "/a%2Fb"},
    {"/a%2F..%2Fb", "/a%2F..%2Fb"},  // one segment: not a dot segment
    {"/a/..%2F", "/a/..%2F"},
    {"/%e2%82%ac", "/%E2%82%AC"},
    {"/%3b/%3F/%25", "/%3B/%3F/%25"},
    {"/%0a", "/%0A"},          // an escaped control byte is data
    {"/%20", "/%20"},
    // Malformed escapes.
    {"/%zz", "", kBadEscape},
    {"/%4", "", kBadEscape},
    {"/%", "", kBadEscape},
    {"/a%", "", kBadEscape},
    {"/%4/x", "", kBadEscape},
    {"/%g1", "", kBadEscape},
    {"/%1g", "", kBadEscape},
    {"/%%41", "", kBadEscape},
    // Forbidden bytes, raw and escaped.
    {"/%00", "", kBadByte},
    {"/%5C", "", kBadByte},
    {"/%5c..%5cx", "", kBadByte},
    {"/a\\b", "", kBadByte},
    {"/a b", "", kBadByte},
    {"/a\tb", "", kBadByte},
    {"/a#b", "", kBadByte},
    {"/a\x7f", "", kBadByte},
    {"/a\x80", "", kBadByte},
    {"/a\r\n", "", kBadByte},
    // Not a path.
    {"", "", kNotAbsolute},
    {"*", "", kNotAbsolute},
    {"a/b", "", kNotAbsolute},
    {"?x", "", kNotAbsolute},
    {"http://h/x", "", kNotAbsolute},
    // Path parameters: untouched, except after a dot segment's name.
    {"/a;v=1/b", "/a;v=1/b"},
    {"/a/b;x", "/a/b;x"},
    {"/a;/b", "/a;/b"},
    {"/;", "/;"},
    {"/a/..;/b", "/b"},        // Tomcat: ".." with parameters
    {"/public/..;jsessionid=1/admin/x", "/admin/x"},
    {"/a/.;x/b", "/a/b"},
    {"/a/..%3B/b", "/a/..%3B/b"},  // an encoded ';' is data: a name, not ".."
    {"/a/...;x", "/a/...;x"},
    // The query is not touched, or examined.
    {"/?", "/?"},
    {"/a//b/../c?x=/../%2f&%zz#", "/a/c?x=/../%2f&%zz#"},
    {"/%7e?%7e", "/~?%7e"},
    {"/a/..?..", "/?.."},
    {"/..?x", "", kAboveRoot},
};

TEST(NormalizePath, Table) {
  for (const Case& c : kCases) {
    std::string out = "KEEP";
    PathStatus st = normalize_path(c.in, out);
    EXPECT_EQ(static_cast<int>(st), static_cast<int>(c.status)) << "in: " << c.in;
    if (c.status == PathStatus::ok) {
      EXPECT_EQ(out, "KEEP" + std::string(c.want)) << "in: " << c.in;
    } else {
      EXPECT_EQ(out, "KEEP") << "a refusal must leave the output alone; in: " << c.in;
    }
  }
}

TEST(NormalizePath, NulInsideIsRefused) {
  std::string out;
  EXPECT_EQ(normalize_path(std::string_view("/a\0b", 4), out), PathStatus::bad_byte);
  EXPECT_EQ(out, "");
}

TEST(NormalizePath, TextsNameTheProblem) {
  EXPECT_NE(std::string(path_status_text(PathStatus::above_root)).find(".."), std::string::npos);
  EXPECT_NE(std::string(path_status_text(PathStatus::bad_escape)).find("escape"), std::string::npos);
  EXPECT_NE(std::string(path_status_text(PathStatus::bad_byte)).find("control"), std::string::npos);
}

TEST(NormalizePath, NoAllocationWithReservedRoom) {
  const std::string_view in = "/a//b/./c/%7euser/../d%2fe?q=1";
  std::string out;
  out.reserve(in.size());
  const char* data = out.data();
  ASSERT_EQ(normalize_path(in, out), PathStatus::ok);
  EXPECT_EQ(out, "/a/b/c/d%2Fe?q=1");
  EXPECT_EQ(out.data(), data);
}

// Every path of up to six bytes from an alphabet that can form each
// construct: the normal form is a fixed point, never longer than the input,
// starts with '/', and holds no "//", no dot segment and no lower-case or
// unreserved escape.
TEST(NormalizePath, PropertiesOverShortPaths) {
  const char alphabet[] = {'/', '.', '%', '2', 'e', 'E', 'f', 'F', ';', 'a', '?'};
  constexpr size_t kA = sizeof alphabet;
  std::string in, out, again;
  size_t accepted = 0;
  for (size_t len = 1; len <= 6; ++len) {
    size_t total = 1;
    for (size_t i = 0; i + 1 < len; ++i) total *= kA;
    for (size_t n = 0; n < total; ++n) {
      in = "/";
      for (size_t i = 0, m = n; i < len - 1; ++i, m /= kA) in.push_back(alphabet[m % kA]);
      out.clear();
      if (normalize_path(in, out) != PathStatus::ok) continue;
      ++accepted;
      ASSERT_LE(out.size(), in.size()) << in;
      ASSERT_EQ(out.front(), '/') << in;
      again.clear();
      ASSERT_EQ(normalize_path(out, again), PathStatus::ok) << in;
      ASSERT_EQ(again, out) << "not idempotent: " << in;
      std::string_view p = std::string_view(out).substr(0, out.find('?'));
      ASSERT_EQ(p.find("//"), std::string_view::npos) << in;
      for (size_t s = 1; s <= p.size();) {
        size_t e = p.find('/', s);
        if (e == std::string_view::npos) e = p.size();
        std::string_view seg = p.substr(s, e - s);
        seg = seg.substr(0, seg.find(';'));
        ASSERT_TRUE(seg != "." && seg != "..") << in << " -> " << out;
        s = e + 1;
      }
      for (size_t k = 0; k < p.size(); ++k) {
        if (p[k] != '%') continue;
        ASSERT_LT(k + 2, p.size()) << in;
        ASSERT_FALSE(p[k + 1] >= 'a' && p[k + 1] <= 'f') << in;
        ASSERT_FALSE(p[k + 2] >= 'a' && p[k + 2] <= 'f') << in;
        ASSERT_FALSE(p.substr(k, 3) == "%2E") << in;
      }
    }
  }
  EXPECT_GT(accepted, 1000u);
}

}  // namespace
}  // namespace gh::http
