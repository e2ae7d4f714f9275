// A real pebble (Let's Encrypt's test ACME server, /usr/bin/pebble, Debian
// package "pebble") for the ACME client's tests: started per test on free
// 127.0.0.1 ports with a TLS certificate made here, stopped (SIGTERM, then
// SIGKILL) at the end; its log is printed when the test failed.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "acme/client.h"
#include "acme/http.h"
#include "temp_dir.h"

extern char** environ;

namespace gh::acme::testing {

using namespace std::chrono_literals;



inline constexpr const char* kPebble = "/usr/bin/pebble";

inline uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// A self-signed certificate for pebble's own HTTPS listener (SAN
// 127.0.0.1, localhost); the same file is the client's ca_file.
inline void write_server_cert(const std::string& cert_path, const std::string& key_path) {
  PkeyPtr key = generate_ec_key();
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("pebble test"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(x, key.get(), EVP_sha256());
  std::ofstream(cert_path) << certificate_pem(x);
  X509_free(x);
  std::string err;
  ASSERT_TRUE(save_private_key_file(key_path, key.get(), err)) << err;
}

class Pebble : public ::testing::Test {
 protected:
  gh::testing::TempDir dir{"acme-pebble"};
  pid_t pid = -1;
  std::string directory;
  std::string ca_file;
  uint16_t http_port = 0;   // where pebble's VA sends http-01 validation requests
  uint16_t tls_port = 0;    // and tls-alpn-01 handshakes

  // Starts pebble with `extra_env` ("NAME=value") and waits (at most 20 s)
  // until its directory answers. always_valid false: pebble really
  // validates each challenge, on http_port / tls_port of the name's address.
  void start(std::vector<std::string> extra_env = {}, bool always_valid = true) {
    ca_file = (dir / "server.pem").string();
    const std::string key_file = (dir / "server.key").string();
    write_server_cert(ca_file, key_file);
    const uint16_t port = free_port();
    http_port = free_port();
    tls_port = free_port();
    std::ostringstream config;
    config << R"({"pebble": {"listenAddress": "127.0.0.1:)" << port
           << R"(", "managementListenAddress": "127.0.0.1:)" << free_port() << R"(", "certificate": ")"
           << ca_file << R"(", "privateKey": ")" << key_file << R"(", "httpPort": )" << http_port
           << R"(, "tlsPort": )" << tls_port << R"(, "ocspResponderURL": "", "externalAccountBindingRequired": false}})";
    const std::string config_file = dir.write("pebble.json", config.str());
    const std::string log_file = (dir / "pebble.log").string();
    directory = "https://127.0.0.1:" + std::to_string(port) + "/dir";

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).substr(0, 7) != "PEBBLE_") env.emplace_back(*e);
    if (always_valid) env.emplace_back("PEBBLE_VA_ALWAYS_VALID=1");
    env.emplace_back("PEBBLE_VA_NOSLEEP=1");
    for (auto& e : extra_env) env.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive a crashed test
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const char* argv[] = {kPebble, "-config", config_file.c_str(), nullptr};
      ::execve(kPebble, const_cast<char**>(argv), envp.data());
      ::_exit(127);
    }
    HttpOptions probe;
    probe.ca_file = ca_file;
    probe.timeout_ms = 2000;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "pebble exited:\n" << log();
      if (http_request(probe, "GET", directory).status == 200) return;
      std::this_thread::sleep_for(100ms);
    }
    FAIL() << "pebble did not answer " << directory << " within 20 s:\n" << log();
  }

  std::string log() const {
    std::ifstream in(dir / "pebble.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void SetUp() override {
    if (::access(kPebble, X_OK) != 0)
      GTEST_SKIP() << kPebble << " is missing: install the Debian package 'pebble' (scripts/deps.sh test_pkgs)";
  }

  void TearDown() override {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
      if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
    if (HasFailure()) std::cerr << "--- pebble log ---\n" << log() << "\n";
  }

  Options options() const {
    Options o;
    o.directory_url = directory;
    o.ca_file = ca_file;
    o.email = "ops@example.com";
    o.timeout_ms = 10000;
    o.poll_timeout_ms = 30000;
    o.user_agent = "gatehouse-test";
    return o;
  }
};

}  // namespace gh::acme::testing
