// admin.token_file (CONTRACT "Admin and operations"): the token read and
// trimmed at load, FILE:LINE:COL errors at the key for a file that cannot
// give a token, a warning for one others can read; and the admin listener's
// loopback default.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "config/config.h"
#include "temp_dir.h"

using namespace gh::config;

namespace {

const std::string kAdmin = "admin:\n  enabled: true\n  port: 9911\n  token_file: ";

LoadResult load_in(const gh::testing::TempDir& dir, const std::string& text) {
  return load_string(text, (dir / "gh.yaml").string());
}

std::string write_mode(const gh::testing::TempDir& dir, const std::string& name,
                       const std::string& text, mode_t mode) {
  std::string p = dir.write(name, text);
  ::chmod(p.c_str(), mode);
  return p;
}

TEST(AdminTokenConfig, TokenIsTrimmedAndPathResolved) {
  gh::testing::TempDir dir("admin-token");
  write_mode(dir, "admin.token", "  s3cr3t-T0ken_+/=  \r\n\n", 0600);
  LoadResult r = load_in(dir, kAdmin + "admin.token\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config->admin.token, "s3cr3t-T0ken_+/=");
  EXPECT_EQ(r.config->admin.token_file, (dir / "admin.token").string());
}

TEST(AdminTokenConfig, NoTokenFileNoToken) {
  gh::testing::TempDir dir("admin-token");
  LoadResult r = load_in(dir, "admin:\n  enabled: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_TRUE(r.config->admin.token.empty());
  EXPECT_TRUE(r.config->admin.token_file.empty());
}

TEST(AdminTokenConfig, AdminListensOnLoopbackByDefault) {
  gh::testing::TempDir dir("admin-token");
  LoadResult r = load_in(dir, "server:\n  host: 0.0.0.0\nadmin:\n  enabled: true\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.config->admin.host, "127.0.0.1");
  EXPECT_EQ(r.config->admin.port, 9901);
}

void expect_error_at_key(const LoadResult& r, const std::string& needle) {
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 15);
  EXPECT_NE(r.errors[0].message.find(needle), std::string::npos) << r.errors[0].str();
  EXPECT_FALSE(r.config);
}

TEST(AdminTokenConfig, EmptyFileIsAnErrorAtTheKey) {
  gh::testing::TempDir dir("admin-token");
  write_mode(dir, "empty.token", "", 0600);
  write_mode(dir, "blank.token", " \n\t\n", 0600);
  expect_error_at_key(load_in(dir, kAdmin + "empty.token\n"), "admin 'token_file'");
  expect_error_at_key(load_in(dir, kAdmin + "empty.token\n"), "is empty");
  expect_error_at_key(load_in(dir, kAdmin + "blank.token\n"), "is empty");
}

TEST(AdminTokenConfig, MissingOrUnreadableFileIsAnErrorAtTheKey) {
  gh::testing::TempDir dir("admin-token");
  expect_error_at_key(load_in(dir, kAdmin + "nope.token\n"), "No such file");
  ::mkdir((dir / "adir").c_str(), 0700);
  expect_error_at_key(load_in(dir, kAdmin + "adir\n"), "not a regular file");
  if (::geteuid() != 0) {   // root reads anything
    write_mode(dir, "locked.token", "abc\n", 0000);
    expect_error_at_key(load_in(dir, kAdmin + "locked.token\n"), "Permission denied");
  }
}

TEST(AdminTokenConfig, TokenWithSpacesOrControlBytesIsRefused) {
  gh::testing::TempDir dir("admin-token");
  write_mode(dir, "two.token", "abc def\n", 0600);
  write_mode(dir, "lines.token", "abc\ndef\n", 0600);
  write_mode(dir, "nul.token", std::string("abc\0def", 7), 0600);
  write_mode(dir, "long.token", std::string(5000, 'a'), 0600);
  expect_error_at_key(load_in(dir, kAdmin + "two.token\n"), "one word");
  expect_error_at_key(load_in(dir, kAdmin + "lines.token\n"), "one word");
  expect_error_at_key(load_in(dir, kAdmin + "nul.token\n"), "one word");
  expect_error_at_key(load_in(dir, kAdmin + "long.token\n"), "longer than 4096");
}

TEST(AdminTokenConfig, FileReadableByOthersWarns) {
  gh::testing::TempDir dir("admin-token");
  write_mode(dir, "open.token", "abc\n", 0644);
  LoadResult r = load_in(dir, kAdmin + "open.token\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].line, 4);
  EXPECT_EQ(r.warnings[0].col, 15);
  EXPECT_NE(r.warnings[0].message.find("readable by group or others"), std::string::npos);
  EXPECT_EQ(r.config->admin.token, "abc");
  write_mode(dir, "group.token", "abc\n", 0640);
  EXPECT_EQ(load_in(dir, kAdmin + "group.token\n").warnings.size(), 1u);
}

TEST(AdminTokenConfig, TypoGetsDidYouMean) {
  gh::testing::TempDir dir("admin-token");
  LoadResult r = load_in(dir, "admin:\n  enabled: true\n  token_fle: x\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("did you mean 'token_file'"), std::string::npos)
      << r.errors[0].str();
}

}  // namespace
