// CompressRule: which responses the compress policy codes, and in what.
#include "policy/compress.h"

#include <gtest/gtest.h>

#include <vector>

using gh::coding::Coding;
using gh::http::Field;
using gh::policy::CompressChoice;
using gh::policy::CompressRule;

namespace policy_compress_test {

gh::config::Compress conf() {
  gh::config::Compress c;
  c.enabled = true;
  return c;
}

CompressChoice choose(const CompressRule& r, std::vector<Field> resp, const char* ae = "gzip, br, zstd",
                      int status = 200, bool head = false, std::optional<uint64_t> len = 5000) {
  std::vector<Field> req;
  if (ae) req.push_back({"Accept-Encoding", ae});
  return r.choose(head, status, req, resp, len);
}

TEST(CompressRule, CodesListedTypesInTheBestAcceptedCoding) {
  CompressRule r(conf());
  CompressChoice c = choose(r, {{"Content-Type", "text/html; charset=utf-8"}});
  EXPECT_EQ(c.coding, Coding::zstd);
  EXPECT_TRUE(c.vary);
  EXPECT_EQ(choose(r, {{"content-type", "Application/JSON"}}, "gzip").coding, Coding::gzip);
  EXPECT_EQ(choose(r, {{"content-type", "image/svg+xml"}}, "br;q=0.9, gzip;q=0.1").coding, Coding::br);
}

TEST(CompressRule, NoAcceptableCodingStillVaries) {
  CompressRule r(conf());
  CompressChoice c = choose(r, {{"Content-Type", "text/html"}}, nullptr);
  EXPECT_EQ(c.coding, Coding::identity);
  EXPECT_TRUE(c.vary);
  c = choose(r, {{"Content-Type", "text/html"}}, "deflate");
  EXPECT_EQ(c.coding, Coding::identity);
  EXPECT_TRUE(c.vary);
}

TEST(CompressRule, NeverForTheseResponses) {
  CompressRule r(conf());
  const std::vector<std::vector<Field>> never = {
      {{"Content-Type", "image/png"}},
      {{"Content-Type", "text/event-stream"}},
      {},
      {{"Content-Type", "text/html"}, {"Content-Encoding", "gzip"}},
      {{"Content-Type", "text/html"}, {"Cache-Control", "public, No-Transform"}},
      {{"Content-Type", "text/html"}, {"Content-Range", "bytes 0-1/2"}},
  };
  for (const auto& f : never) {
    CompressChoice c = choose(r, f);
    EXPECT_EQ(c.coding, Coding::identity);
    EXPECT_FALSE(c.vary);
  }
  const std::vector<Field> html = {{"Content-Type", "text/html"}};
  for (int status : {101, 204, 206, 304}) EXPECT_EQ(choose(r, html, "gzip", status).coding, Coding::identity);
  EXPECT_EQ(choose(r, html, "gzip", 200, true).coding, Coding::identity);   // HEAD ...
  EXPECT_TRUE(choose(r, html, "gzip", 200, true).vary);                     // ... varies as GET does
  EXPECT_EQ(choose(r, html, "gzip", 200, false, 100).coding, Coding::identity);   // under min_size
  EXPECT_EQ(choose(r, html, "gzip", 200, false, std::nullopt).coding, Coding::gzip);   // length unknown
  EXPECT_EQ(choose(r, html, "gzip", 404).coding, Coding::gzip);   // error pages compress too
  // An identity Content-Encoding is no coding.
  EXPECT_EQ(choose(r, {{"Content-Type", "text/html"}, {"Content-Encoding", "identity"}}).coding,
            Coding::zstd);
}

TEST(CompressRule, IdentityPreferredByQValueWins) {
  CompressRule r(conf());
  const std::vector<Field> html = {{"Content-Type", "text/html"}};
  EXPECT_EQ(choose(r, html, "gzip;q=0.001, identity;q=1").coding, Coding::identity);
  EXPECT_EQ(choose(r, html, "gzip, identity").coding, Coding::gzip);   // a tie: ours first
  EXPECT_EQ(choose(r, html, "identity;q=0, gzip;q=0.1").coding, Coding::gzip);
}

TEST(CompressRule, ConfiguredTypesAndWildcards) {
  gh::config::Compress c = conf();
  c.types = {"text/*", "application/x-custom"};
  c.algorithms = {"gzip"};
  c.min_size = 0;
  CompressRule r(c);
  EXPECT_TRUE(r.compresses_type("text/anything"));
  EXPECT_TRUE(r.compresses_type("application/x-custom"));
  EXPECT_FALSE(r.compresses_type("application/json"));
  EXPECT_FALSE(r.compresses_type("text/event-stream"));   // never, whatever the list says
  EXPECT_FALSE(r.compresses_type("text/"));
  EXPECT_EQ(choose(r, {{"Content-Type", "text/csv"}}, "zstd, gzip").coding, Coding::gzip);
  EXPECT_EQ(choose(r, {{"Content-Type", "text/csv"}}, "zstd").coding, Coding::identity);
}

}  // namespace policy_compress_test
