// `streams` (CONTRACT "L4 streams, PROXY protocol"): one test per rule.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config_errors.h"
#include "temp_dir.h"

using namespace gh::config;
using gh::config_test::load;
using gh::config_test::mentions;
using gh::config_test::only_error;

namespace {

// An ssl section with files that exist (the loader checks readability only).
std::string ssl_on(const gh::testing::TempDir& d) {
  return "ssl:\n  enabled: true\n  port: 8443\n  cert_file: " + d.write("c.pem", "x") +
         "\n  key_file: " + d.write("k.pem", "x") + "\n";
}

}  // namespace

TEST(StreamsConfig, ListenEntryWithDefaults) {
  LoadResult r = load(
      "server:\n  timeouts: {connect: 3s, tunnel_idle: 10m}\n"
      "streams:\n"
      "  - listen: 0.0.0.0:8154\n"
      "    backends: [{address: 127.0.0.1:18154}, {address: 'db.internal:5432', weight: 2, backup: true}]\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  ASSERT_EQ(r.config->streams.size(), 1u);
  const StreamRoute& s = r.config->streams[0];
  EXPECT_EQ(s.listen_host, "0.0.0.0");
  EXPECT_EQ(s.listen_port, 8154);
  EXPECT_TRUE(s.sni.empty());
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].host, "127.0.0.1");
  EXPECT_EQ(s.backends[0].port, 18154);
  EXPECT_EQ(s.backends[1].host, "db.internal");
  EXPECT_EQ(s.backends[1].weight, 2u);
  EXPECT_TRUE(s.backends[1].backup);
  EXPECT_EQ(s.balance, Balance::round_robin);
  EXPECT_EQ(s.proxy_protocol, ProxyProtocolOut::none);
  EXPECT_FALSE(s.health_check.enabled);
  EXPECT_EQ(s.connect_timeout, std::chrono::seconds(3));   // server.timeouts.connect
  EXPECT_EQ(s.idle_timeout, std::chrono::minutes(10));     // server.timeouts.tunnel_idle
  EXPECT_EQ(s.mark.line, 4);
}

TEST(StreamsConfig, EveryKey) {
  LoadResult r = load(
      "streams:\n"
      "  - listen: '[::1]:9000'\n"
      "    backends: [{address: '[::1]:9001'}]\n"
      "    balance: least_conn\n"
      "    health_check: {interval: 2s, timeout: 1s, healthy: 1, unhealthy: 2}\n"
      "    proxy_protocol: v2\n"
      "    timeouts: {connect: 250ms, idle: 30s}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const StreamRoute& s = r.config->streams[0];
  EXPECT_EQ(s.listen_host, "::1");
  EXPECT_EQ(s.listen_port, 9000);
  EXPECT_EQ(s.balance, Balance::least_conn);
  EXPECT_TRUE(s.health_check.enabled);
  EXPECT_EQ(s.health_check.interval, std::chrono::seconds(2));
  EXPECT_EQ(s.health_check.timeout, std::chrono::seconds(1));
  EXPECT_EQ(s.health_check.healthy, 1u);
  EXPECT_EQ(s.health_check.unhealthy, 2u);
  EXPECT_EQ(s.proxy_protocol, ProxyProtocolOut::v2);
  EXPECT_EQ(s.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(s.idle_timeout, std::chrono::seconds(30));
}

TEST(StreamsConfig, SniNamesAreLowerCasedAndMayBeWildcards) {
  gh::testing::TempDir d("cfg-streams");
  LoadResult r = load(ssl_on(d) +
                      "streams:\n"
                      "  - sni: [Agents.Example.COM, '*.gocd.example.com.']\n"
                      "    backends: [{address: 127.0.0.1:8154}]\n"
                      "    proxy_protocol: v1\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const StreamRoute& s = r.config->streams[0];
  EXPECT_EQ(s.listen_port, 0);
  ASSERT_EQ(s.sni.size(), 2u);
  EXPECT_EQ(s.sni[0], "agents.example.com");
  EXPECT_EQ(s.sni[1], "*.gocd.example.com");
  EXPECT_EQ(s.proxy_protocol, ProxyProtocolOut::v1);
}

TEST(StreamsConfig, NeedsListenOrSni) {
  auto e = only_error(load("streams:\n  - backends: [{address: 127.0.0.1:1}]\n"), 2, 5);
  EXPECT_TRUE(mentions(e, "needs 'listen'")) << e.str();
}

TEST(StreamsConfig, RefusesBothListenAndSni) {
  gh::testing::TempDir d("cfg-streams");
  auto e = only_error(load(ssl_on(d) +
                           "streams:\n"
                           "  - listen: 0.0.0.0:9000\n"
                           "    sni: [a.example.com]\n"
                           "    backends: [{address: 127.0.0.1:1}]\n"),
                      8, 5);
  EXPECT_TRUE(mentions(e, "not both")) << e.str();
}

TEST(StreamsConfig, SniNeedsTls) {
  auto e = only_error(load("streams:\n"
                           "  - sni: [a.example.com]\n"
                           "    backends: [{address: 127.0.0.1:1}]\n"),
                      2, 5);
  EXPECT_TRUE(mentions(e, "ssl is not enabled")) << e.str();
}

TEST(StreamsConfig, SniNameTwiceAcrossEntries) {
  gh::testing::TempDir d("cfg-streams");
  auto e = only_error(load(ssl_on(d) +
                           "streams:\n"
                           "  - sni: [a.example.com, '*.b.example.com']\n"
                           "    backends: [{address: 127.0.0.1:1}]\n"
                           "  - sni: ['*.B.example.com']\n"
                           "    backends: [{address: 127.0.0.1:2}]\n"),
                      9, 11);
  EXPECT_TRUE(mentions(e, "'*.b.example.com' is already listed (line 7)")) << e.str();
}

TEST(StreamsConfig, BadSniName) {
  gh::testing::TempDir d("cfg-streams");
  auto e = only_error(load(ssl_on(d) +
                           "streams:\n"
                           "  - sni: ['a.*.example.com']\n"
                           "    backends: [{address: 127.0.0.1:1}]\n"),
                      7, 11);
  EXPECT_TRUE(mentions(e, "'sni'")) << e.str();
  EXPECT_TRUE(mentions(e, "its own 'listen'")) << e.str();
  EXPECT_FALSE(mentions(e, "leave out 'domains'")) << "the routes' hint means nothing here: " << e.str();
}

TEST(StreamsConfig, SniIsNeverAnIpAddress) {
  gh::testing::TempDir d("cfg-streams");
  for (const char* ip : {"1.2.3.4", "'::1'", "'[2001:db8::1]'"}) {
    SCOPED_TRACE(ip);
    auto e = only_error(load(ssl_on(d) + "streams:\n  - sni: [" + ip +
                             "]\n    backends: [{address: 127.0.0.1:1}]\n"),
                        7, 11);
    EXPECT_TRUE(mentions(e, "an IP address is never a TLS server name")) << e.str();
  }
}

TEST(StreamsConfig, ListenNeedsAPortAndAnAddress) {
  auto e = only_error(load("streams:\n  - listen: 0.0.0.0\n    backends: [{address: 127.0.0.1:1}]\n"), 2, 13);
  EXPECT_TRUE(mentions(e, "needs a port")) << e.str();
  e = only_error(load("streams:\n  - listen: db.example.com:5432\n    backends: [{address: 127.0.0.1:1}]\n"), 2, 13);
  EXPECT_TRUE(mentions(e, "must be an IP address")) << e.str();
  e = only_error(load("streams:\n  - listen: 'tcp://0.0.0.0:1'\n    backends: [{address: 127.0.0.1:1}]\n"), 2, 13);
  EXPECT_TRUE(mentions(e, "'listen'")) << e.str();
}

TEST(StreamsConfig, ListenClashesWithServerPort) {
  auto e = only_error(load("server: {port: 9000}\n"
                           "streams:\n  - listen: 127.0.0.1:9000\n    backends: [{address: 127.0.0.1:1}]\n"),
                      3, 13);
  EXPECT_TRUE(mentions(e, "is already server 'port'")) << e.str();
}

TEST(StreamsConfig, ListenClashesWithSslPort) {
  gh::testing::TempDir d("cfg-streams");
  auto e = only_error(load(ssl_on(d) + "streams:\n  - listen: 0.0.0.0:8443\n"
                                       "    backends: [{address: 127.0.0.1:1}]\n"),
                      7, 13);
  EXPECT_TRUE(mentions(e, "is already ssl 'port'")) << e.str();
}

TEST(StreamsConfig, ListenClashesWithAdminPort) {
  auto e = only_error(load("admin: {enabled: true, port: 9901}\n"
                           "streams:\n  - listen: 127.0.0.1:9901\n    backends: [{address: 127.0.0.1:1}]\n"),
                      3, 13);
  EXPECT_TRUE(mentions(e, "is already admin 'port'")) << e.str();
  // Another address on the admin's port is fine (admin binds 127.0.0.1).
  LoadResult r = load("admin: {enabled: true, port: 9901}\n"
                      "streams:\n  - listen: 10.0.0.1:9901\n    backends: [{address: 127.0.0.1:1}]\n");
  EXPECT_TRUE(r.errors.empty()) << r.errors[0].str();
}

TEST(StreamsConfig, ListenClashesWithAnotherStream) {
  auto e = only_error(load("streams:\n"
                           "  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                           "  - listen: 127.0.0.1:9000\n    backends: [{address: 127.0.0.1:2}]\n"),
                      4, 13);
  EXPECT_TRUE(mentions(e, "the stream at line 2")) << e.str();
}

TEST(StreamsConfig, NeedsBackendsWithPorts) {
  auto e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n"), 2, 5);
  EXPECT_TRUE(mentions(e, "needs 'backends'")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: []\n"), 3, 15);
  EXPECT_TRUE(mentions(e, "at least one backend")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: db.internal}]\n"), 3, 16);
  EXPECT_TRUE(mentions(e, "needs a port")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n"
                      "    backends: [{address: 127.0.0.1:1}, {address: 127.0.0.1:1}]\n"),
                 3, 40);
  EXPECT_TRUE(mentions(e, "listed twice in this stream")) << e.str();
}

TEST(StreamsConfig, HealthCheckIsATcpConnect) {
  auto e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                           "    health_check: {path: /healthz}\n"),
                      4, 20);
  EXPECT_TRUE(mentions(e, "TCP connect: 'path' does not apply")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                      "    health_check: {expect_status: 200}\n"),
                 4, 20);
  EXPECT_TRUE(mentions(e, "'expect_status' does not apply")) << e.str();
}

TEST(StreamsConfig, EnumsAndTimeouts) {
  auto e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                           "    proxy_protocol: v3\n"),
                      4, 21);
  EXPECT_TRUE(mentions(e, "v2")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                      "    balance: fastest\n"),
                 4, 14);
  EXPECT_TRUE(mentions(e, "round_robin")) << e.str();
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                      "    timeouts: {idle: 0s}\n"),
                 4, 22);
  e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                      "    timeouts: {conect: 1s}\n"),
                 4, 16);
  EXPECT_TRUE(mentions(e, "connect")) << e.str();
}

TEST(StreamsConfig, UnknownKeyAndShape) {
  auto e = only_error(load("streams:\n  - listen: 0.0.0.0:9000\n    backends: [{address: 127.0.0.1:1}]\n"
                           "    proxy_protocl: v1\n"),
                      4, 5);
  EXPECT_TRUE(mentions(e, "proxy_protocol")) << e.str();
  e = only_error(load("streams: {listen: 0.0.0.0:9000}\n"), 1, 10);
  e = only_error(load("streams:\n  - 0.0.0.0:9000\n"), 2, 5);
  EXPECT_TRUE(mentions(e, "must be a map")) << e.str();
}
