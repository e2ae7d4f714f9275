// The upgrade's socket description (GATEHOUSE_INHERITED_FDS) and the
// listener set a config asks for.
#include <gtest/gtest.h>

#include <cstdlib>

#include "net/inherit.h"
#include "net/listener_plan.h"

namespace gh::net {
namespace {

TEST(Inherit, FormatThenParseRoundTrips) {
  std::vector<InheritedSocket> in = {{"http", "127.0.0.1", 8080, 3},
                                     {"http", "127.0.0.1", 8080, 4},
                                     {"https", "::1", 8443, 5},
                                     {"admin", "localhost", 9901, 17}};
  std::string text = format_inherited(in);
  EXPECT_EQ(text, "http,127.0.0.1,8080,3;http,127.0.0.1,8080,4;https,::1,8443,5;admin,localhost,9901,17");
  std::vector<InheritedSocket> out;
  std::string err;
  ASSERT_TRUE(parse_inherited(text, out, err)) << err;
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].kind, in[i].kind);
    EXPECT_EQ(out[i].host, in[i].host);
    EXPECT_EQ(out[i].port, in[i].port);
    EXPECT_EQ(out[i].fd, in[i].fd);
  }
}

TEST(Inherit, ParseEmptyIsNoSockets) {
  std::vector<InheritedSocket> out;
  std::string err;
  EXPECT_TRUE(parse_inherited("", out, err));
  EXPECT_TRUE(out.empty());
}

TEST(Inherit, ParseRefusesMalformedEntries) {
  for (const char* bad : {"http,127.0.0.1,8080", "http,127.0.0.1,8080,3,9", "http,127.0.0.1,0,3",
                          "http,127.0.0.1,65536,3", "http,127.0.0.1,80,2", "http,127.0.0.1,80,x",
                          ",127.0.0.1,80,3", "http,,80,3", "http,127.0.0.1,80,3;;"}) {
    std::vector<InheritedSocket> out;
    std::string err;
    EXPECT_FALSE(parse_inherited(bad, out, err)) << bad;
    EXPECT_TRUE(out.empty()) << bad;
    EXPECT_NE(err.find("GATEHOUSE_INHERITED_FDS"), std::string::npos) << err;
  }
}

TEST(Inherit, TakeInheritanceReadsAndClearsTheEnvironment) {
  setenv(kInheritedFdsEnv, "http,127.0.0.1,8080,3", 1);
  std::string err;
  Inheritance in = take_inheritance(err);
  EXPECT_TRUE(err.empty()) << err;
  ASSERT_EQ(in.sockets.size(), 1u);
  EXPECT_EQ(in.sockets[0].port, 8080);
  EXPECT_EQ(in.ready_fd, -1);
  EXPECT_EQ(getenv(kInheritedFdsEnv), nullptr);
}

TEST(ListenerPlan, PlainTlsAndAdmin) {
  config::Config c;
  c.server.host = "127.0.0.1";
  c.server.port = 8080;
  auto l = listeners_for(c);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].kind, "http");

  c.ssl.enabled = true;   // no ssl.port: server.port speaks TLS
  l = listeners_for(c);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].kind, "https");
  EXPECT_EQ(l[0].port, 8080);

  c.ssl.port = 8443;
  c.admin.enabled = true;
  c.admin.host = "127.0.0.1";
  c.admin.port = 9901;
  l = listeners_for(c);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].kind, "http");
  EXPECT_EQ(l[1].kind, "https");
  EXPECT_EQ(l[1].port, 8443);
  EXPECT_EQ(l[2].kind, "admin");
  EXPECT_EQ(l[2].port, 9901);
}

}  // namespace
}  // namespace gh::net
