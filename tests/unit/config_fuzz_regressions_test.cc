// Inputs the fuzz_config fuzzer (tests/fuzz/fuzz_config.cc) found, kept as
// unit tests so they stay fixed. See docs/fuzzing.md.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "config/config.h"

using gh::config::load_string;
using gh::config::LoadResult;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// Runs load_string in a child process with a time limit (and, outside ASan,
// whose shadow memory needs a huge address space, a memory limit), so a
// regression to an endless allocating loop fails the test instead of
// exhausting the machine. The child exits 0 when the text gave exactly one
// error at `line`:`col` whose message contains `needle`.
void expect_one_error_bounded(const std::string& text, int line, int col, const std::string& needle) {
  EXPECT_EXIT(
      {
        if (!kAsan) {
          struct rlimit lim {};
          lim.rlim_cur = lim.rlim_max = rlim_t{1} << 30;  // 1 GiB
          setrlimit(RLIMIT_AS, &lim);
        }
        alarm(10);
        LoadResult r = load_string(text, "fuzz.yaml");
        const bool ok = !r.config && r.errors.size() == 1 && r.errors[0].line == line &&
                        r.errors[0].col == col && r.errors[0].message.find(needle) != std::string::npos;
        if (!ok) {
          for (const auto& e : r.errors) fprintf(stderr, "%s\n", e.str().c_str());
        }
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << "input: " << text;
}

}  // namespace

// yaml-cpp 0.7's YAML::LoadAll never returns on a document that starts with
// a ',' (yaml-cpp issue #1040): its parser leaves the token in place and
// LoadAll appends null documents until memory runs out. Found by fuzz_config
// within seconds (a 621-byte file whose only problem was a line ", unchanged.");
// the loader now counts documents with a bounded loop and names the token.
TEST(ConfigFuzzRegressions, LoneCommaIsASyntaxError) {
  expect_one_error_bounded(",", 1, 1, "YAML syntax error: unexpected ','");
}

TEST(ConfigFuzzRegressions, CommaAfterAFlowDocument) {
  expect_one_error_bounded("[a]\n,", 2, 1, "unexpected ','");
}

TEST(ConfigFuzzRegressions, CommaStartingASecondDocument) {
  expect_one_error_bounded("server:\n  port: 80\n---\n, unchanged.\n", 4, 1, "unexpected ','");
}

TEST(ConfigFuzzRegressions, CommaAfterAnExplicitDocumentStart) {
  expect_one_error_bounded("---\n,\n", 2, 1, "unexpected ','");
}

// The bounded document loop must keep the old answers for ordinary streams.
TEST(ConfigFuzzRegressions, DocumentCountingKeepsOrdinaryAnswers) {
  LoadResult two = load_string("server: {}\n---\nserver: {}\n", "fuzz.yaml");
  ASSERT_EQ(two.errors.size(), 1u);
  EXPECT_EQ(two.errors[0].str(), "fuzz.yaml:3:1: only one YAML document is allowed (remove the second '---')");

  LoadResult many = load_string("---\n---\n---\n---\n", "fuzz.yaml");
  ASSERT_EQ(many.errors.size(), 1u);
  EXPECT_EQ(many.errors[0].line, 3);

  for (const char* empty : {"", "# only a comment\n", "---\n", "---\n...\n"}) {
    LoadResult r = load_string(empty, "fuzz.yaml");
    EXPECT_TRUE(r.config.has_value()) << "input: " << empty;
    EXPECT_TRUE(r.errors.empty()) << "input: " << empty;
  }

  LoadResult one = load_string("server:\n  port: 8081\n", "fuzz.yaml");
  ASSERT_TRUE(one.config.has_value());
  EXPECT_EQ(one.config->server.port, 8081);
}
