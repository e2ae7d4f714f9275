// StreamTable lookups: by listener address, and by TLS server name (exact
// first, then a wildcard of exactly one more label).
#include <gtest/gtest.h>

#include "stream/stream_proxy.h"

using namespace gh;

namespace {

struct Table {
  std::vector<config::StreamRoute> confs;
  stream::StreamTable t;
  void build() {
    for (auto& c : confs) {
      stream::StreamRuntime s;
      s.conf = &c;
      t.entries.push_back(s);
    }
    t.index();
  }
};

}  // namespace

TEST(StreamTable, BySni) {
  Table tb;
  tb.confs.resize(3);
  tb.confs[0].sni = {"agents.example.com"};
  tb.confs[1].sni = {"*.example.com", "db.example.org"};
  tb.confs[2].listen_host = "0.0.0.0";
  tb.confs[2].listen_port = 8154;
  tb.build();
  const auto& e = tb.t.entries;
  EXPECT_TRUE(tb.t.has_sni());
  EXPECT_EQ(tb.t.by_sni("agents.example.com"), &e[0]);   // exact beats the wildcard
  EXPECT_EQ(tb.t.by_sni("x.example.com"), &e[1]);
  EXPECT_EQ(tb.t.by_sni("db.example.org"), &e[1]);
  EXPECT_EQ(tb.t.by_sni("example.com"), nullptr);        // the bare name is not covered
  EXPECT_EQ(tb.t.by_sni("a.b.example.com"), nullptr);    // one label only
  EXPECT_EQ(tb.t.by_sni(".example.com"), nullptr);
  EXPECT_EQ(tb.t.by_sni(""), nullptr);
  EXPECT_EQ(tb.t.by_sni("other.org"), nullptr);
  EXPECT_EQ(tb.t.by_listener("0.0.0.0", 8154), &e[2]);
  EXPECT_EQ(tb.t.by_listener("0.0.0.0", 8155), nullptr);
  EXPECT_EQ(tb.t.by_listener("127.0.0.1", 8154), nullptr);
}

TEST(StreamTable, NoSniEntries) {
  Table tb;
  tb.confs.resize(1);
  tb.confs[0].listen_host = "::";
  tb.confs[0].listen_port = 1;
  tb.build();
  EXPECT_FALSE(tb.t.has_sni());
  EXPECT_EQ(tb.t.by_sni("a.example.com"), nullptr);
}
