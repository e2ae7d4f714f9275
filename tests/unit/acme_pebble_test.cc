// The ACME client against a real ACME server: pebble (acme_pebble.h) with
// PEBBLE_VA_ALWAYS_VALID=1: the CA checks no challenge (real validation is
// in acme_pebble_validation_test.cc); what is tested is the protocol:
// account, order, authorizations, finalize, download, badNonce retries
// (pebble refuses 5% of nonces by default), refusals turned into clear
// errors, and cancellation.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <functional>
#include <set>

#include "acme_pebble.h"

using namespace gh::acme;
using namespace gh::acme::testing;
using namespace std::chrono_literals;

namespace {

PkeyPtr share(EVP_PKEY* k) {
  EVP_PKEY_up_ref(k);
  return PkeyPtr(k);
}

// Records every call; answers with `types`; present() fails for `fail_for`.
struct RecordingSolver : ChallengeSolver {
  std::vector<std::string> offer{"http-01", "tls-alpn-01"};
  std::string fail_for;
  std::function<void()> on_present;
  std::vector<Challenge> presented, cleaned;
  std::vector<std::string> types() const override { return offer; }
  bool present(const Challenge& c, std::string& err) override {
    presented.push_back(c);
    if (on_present) on_present();
    if (c.domain == fail_for) {
      err = "port 80 is not ours";
      return false;
    }
    return true;
  }
  void cleanup(const Challenge& c) override { cleaned.push_back(c); }
};

std::vector<X509Ptr> read_chain(const std::string& pem) {
  std::vector<X509Ptr> out;
  gh::tls::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();
  return out;
}

std::set<std::string> san_names(X509* x) {
  std::set<std::string> out;
  auto* gens = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
    if (g->type == GEN_DNS)
      out.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)), ASN1_STRING_length(g->d.dNSName));
  }
  GENERAL_NAMES_free(gens);
  return out;
}

TEST_F(Pebble, IssuesForTwoNamesThenFindsTheAccountAgain) {
  start();
  PkeyPtr account_key = generate_ec_key();
  PkeyPtr cert_key = generate_ec_key();
  Client client(options(), share(account_key.get()));
  std::string err;
  ASSERT_TRUE(client.ensure_account(err)) << err;
  const std::string account = client.account_url();
  EXPECT_TRUE(account.starts_with("https://127.0.0.1:")) << account;

  RecordingSolver solver;
  auto issued = client.issue({"app.example.com", "www.example.com"}, cert_key.get(), solver, err);
  ASSERT_TRUE(issued) << err;

  auto chain = read_chain(issued->chain_pem);
  ASSERT_GE(chain.size(), 2u) << issued->chain_pem;   // leaf + pebble's intermediate
  EXPECT_EQ(san_names(chain[0].get()), (std::set<std::string>{"app.example.com", "www.example.com"}));
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(chain[0].get()), cert_key.get()), 1);
  EXPECT_EQ(X509_verify(chain[0].get(), X509_get0_pubkey(chain[1].get())), 1);   // leaf first
  EXPECT_LT(issued->not_before, std::chrono::system_clock::now() + 1min);
  EXPECT_GT(issued->not_after, std::chrono::system_clock::now() + 24h);

  // One challenge per name, the solver's first choice, the key authorization
  // token "." thumbprint; each cleaned up.
  ASSERT_EQ(solver.presented.size(), 2u);
  std::set<std::string> domains;
  for (const Challenge& c : solver.presented) {
    domains.insert(c.domain);
    EXPECT_EQ(c.type, "http-01");
    EXPECT_EQ(c.key_authorization, c.token + "." + client.thumbprint());
    EXPECT_FALSE(c.url.empty());
  }
  EXPECT_EQ(domains, (std::set<std::string>{"app.example.com", "www.example.com"}));
  ASSERT_EQ(solver.cleaned.size(), 2u);
  EXPECT_EQ(solver.cleaned[0].token, solver.presented[0].token);
  EXPECT_EQ(solver.cleaned[1].token, solver.presented[1].token);

  // The same key, a new client (a restart): the same account (200 + Location).
  Client again(options(), share(account_key.get()));
  ASSERT_TRUE(again.ensure_account(err)) << err;
  EXPECT_EQ(again.account_url(), account);
  // Another key: another account.
  Client other(options(), generate_ec_key());
  ASSERT_TRUE(other.ensure_account(err)) << err;
  EXPECT_NE(other.account_url(), account);
}

TEST_F(Pebble, SolverPreferenceChoosesTlsAlpn01) {
  start();
  Client client(options(), generate_ec_key());
  RecordingSolver solver;
  solver.offer = {"tls-alpn-01", "http-01"};
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  auto issued = client.issue({"tls.example.com"}, cert_key.get(), solver, err);
  ASSERT_TRUE(issued) << err;
  ASSERT_EQ(solver.presented.size(), 1u);
  EXPECT_EQ(solver.presented[0].type, "tls-alpn-01");
  EXPECT_EQ(solver.presented[0].domain, "tls.example.com");
  EXPECT_EQ(solver.cleaned.size(), 1u);
}

TEST_F(Pebble, RefusedIdentifierSaysWhy) {
  start();
  Client client(options(), generate_ec_key());
  RecordingSolver solver;
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  EXPECT_FALSE(client.issue({"192.0.2.7"}, cert_key.get(), solver, err));
  EXPECT_TRUE(err.starts_with("newOrder: urn:ietf:params:acme:error:")) << err;
  EXPECT_NE(err.find("192.0.2.7"), std::string::npos) << err;   // the detail names it
  EXPECT_EQ(err.find("?"), std::string::npos) << err;
  EXPECT_TRUE(solver.presented.empty());
}

TEST_F(Pebble, NoChallengeTheSolverAnswersNamesBoth) {
  start();
  Client client(options(), generate_ec_key());
  RecordingSolver solver;
  solver.offer = {"dns-99"};
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  EXPECT_FALSE(client.issue({"a.example.com"}, cert_key.get(), solver, err));
  EXPECT_NE(err.find("authorization a.example.com: the CA offers ["), std::string::npos) << err;
  EXPECT_NE(err.find("http-01"), std::string::npos) << err;
  EXPECT_NE(err.find("this server answers [dns-99]"), std::string::npos) << err;
  EXPECT_TRUE(solver.presented.empty());
  EXPECT_TRUE(solver.cleaned.empty());
}

TEST_F(Pebble, PresentFailureIsReportedAndCleanedUp) {
  start();
  Client client(options(), generate_ec_key());
  RecordingSolver solver;
  solver.fail_for = "b.example.com";
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  EXPECT_FALSE(client.issue({"a.example.com", "b.example.com"}, cert_key.get(), solver, err));
  EXPECT_NE(err.find("authorization b.example.com: http-01 cannot be presented: port 80 is not ours"), std::string::npos)
      << err;
  EXPECT_EQ(solver.presented.size(), solver.cleaned.size());
}

// Half of all nonces refused: only the badNonce retry gets through.
TEST_F(Pebble, BadNoncesAreRetried) {
  start({"PEBBLE_WFE_NONCEREJECT=50"});
  Options o = options();
  o.bad_nonce_retries = 30;
  Client client(o, generate_ec_key());
  RecordingSolver solver;
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  EXPECT_TRUE(client.issue({"nonce.example.com"}, cert_key.get(), solver, err)) << err;

  // Without retries the same server fails fast with a clear badNonce error.
  o.bad_nonce_retries = 0;
  bool failed = false;
  for (int i = 0; i < 10 && !failed; ++i) {
    Client once(o, generate_ec_key());
    failed = !once.ensure_account(err);
  }
  ASSERT_TRUE(failed);
  EXPECT_EQ(err.rfind("newAccount: urn:ietf:params:acme:error:badNonce", 0), 0u) << err;
}

TEST_F(Pebble, UntrustedServerCertificateIsAnError) {
  start();
  Options o = options();
  o.ca_file.clear();   // system trust: pebble's own certificate is not in it
  Client client(o, generate_ec_key());
  std::string err;
  EXPECT_FALSE(client.ensure_account(err));
  EXPECT_TRUE(err.starts_with("directory " + directory + ": ")) << err;
  EXPECT_NE(err.find("certificate"), std::string::npos) << err;
}

TEST_F(Pebble, StopFlagCancelsBetweenSteps) {
  start();
  std::atomic<bool> stop{false};
  Options o = options();
  o.stop = &stop;
  Client client(o, generate_ec_key());
  RecordingSolver solver;
  solver.on_present = [&] { stop = true; };
  PkeyPtr cert_key = generate_ec_key();
  std::string err;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(client.issue({"a.example.com", "b.example.com"}, cert_key.get(), solver, err));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_NE(err.find("cancelled"), std::string::npos) << err;
  EXPECT_EQ(solver.presented.size(), 1u);
  EXPECT_EQ(solver.cleaned.size(), 1u);
}

TEST_F(Pebble, UnreachableDirectoryIsBoundedAndNamed) {
  // No start(): nothing listens on this port.
  Options o;
  o.directory_url = "https://127.0.0.1:" + std::to_string(free_port()) + "/dir";
  o.timeout_ms = 3000;
  Client client(o, generate_ec_key());
  std::string err;
  EXPECT_FALSE(client.ensure_account(err));
  EXPECT_TRUE(err.starts_with("directory " + o.directory_url + ": ")) << err;
}

}  // namespace
