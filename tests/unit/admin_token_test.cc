// The admin token rule (admin.token_file) and the admin routes' dashboard:
// which requests need the bearer token, what a refusal looks like, and the
// page's security fields (its CSP names exactly its own inline script and
// style by hash).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string>

#include "admin/admin_server.h"
#include "admin/admin_token.h"
#include "admin/dashboard.h"

namespace gh::admin {
namespace {

std::string field(const Response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "<absent>";
}

Handler routes() {
  return make_admin_handler([] { return std::string("{\"routes\": []}\n"); });
}

TEST(AdminToken, BearerMatches) {
  EXPECT_TRUE(bearer_matches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_matches("bearer s3cret", "s3cret"));      // the scheme has no case
  EXPECT_TRUE(bearer_matches("BEARER   s3cret", "s3cret"));
  EXPECT_TRUE(bearer_matches("Bearer s3cret ", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cre", "s3cret"));      // a prefix
  EXPECT_FALSE(bearer_matches("Bearer s3cretX", "s3cret"));    // longer
  EXPECT_FALSE(bearer_matches("Bearer S3CRET", "s3cret"));     // the token has case
  EXPECT_FALSE(bearer_matches("Bearers3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("Basic czNjcmV0", "s3cret"));
  EXPECT_FALSE(bearer_matches("s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer ", "s3cret"));
  EXPECT_FALSE(bearer_matches("", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));                 // no token configured matches nothing
  EXPECT_FALSE(bearer_matches("Bearer s3cret\tx", "s3cret"));
}

TEST(AdminToken, NoTokenLetsEverythingThrough) {
  Handler h = require_token(routes(), [] { return std::string(); });
  EXPECT_EQ(h("GET", "/status", "", "").status, 200);
  EXPECT_EQ(h("GET", "/", "", "").status, 200);
  Handler n = require_token(routes(), nullptr);
  EXPECT_EQ(n("GET", "/status", "", "").status, 200);
}

TEST(AdminToken, EveryEndpointButHealthzNeedsTheToken) {
  Handler h = require_token(routes(), [] { return std::string("tok"); });
  for (const char* path : {"/status", "/metrics", "/cache/purge", "/nope", "/dashboard.js"}) {
    for (const char* auth : {"", "Bearer wrong", "Basic dG9rOg==", "Bearer tok2"}) {
      Response r = h("GET", path, "", auth);
      EXPECT_EQ(r.status, 401) << path << " " << auth;
      EXPECT_EQ(field(r, "WWW-Authenticate"), "Bearer realm=\"gatehouse admin\"") << path;
      EXPECT_EQ(r.body.find("<html"), std::string::npos) << path;
    }
  }
  EXPECT_EQ(h("POST", "/cache/purge", "route=/x", "").status, 401);
  // /healthz: probes carry no secrets.
  EXPECT_EQ(h("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(h("GET", "/healthz", "", "Bearer wrong").status, 200);
  // The right token: the routes answer as without a token.
  EXPECT_EQ(h("GET", "/status", "", "Bearer tok").status, 200);
  EXPECT_EQ(h("GET", "/status", "", "Bearer tok").body, "{\"routes\": []}\n");
  EXPECT_EQ(h("GET", "/nope", "", "Bearer tok").status, 404);
  EXPECT_EQ(h("DELETE", "/status", "", "Bearer tok").status, 405);
  EXPECT_EQ(h("GET", "/", "", "Bearer tok").status, 200);
}

TEST(AdminToken, DashboardWithoutTokenIs401CarryingThePage) {
  Handler h = require_token(routes(), [] { return std::string("tok"); });
  Response r = h("GET", "/", "", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(field(r, "WWW-Authenticate"), "Bearer realm=\"gatehouse admin\"");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, dashboard_page().body);
  EXPECT_EQ(field(r, "Content-Security-Policy"), dashboard_csp());
  EXPECT_EQ(h("HEAD", "/", "", "").status, 401);
  // Other methods on / are refused without the page.
  Response p = h("POST", "/", "", "");
  EXPECT_EQ(p.status, 401);
  EXPECT_EQ(p.body.find("<html"), std::string::npos);
}

TEST(AdminToken, TheTokenIsAskedForOnEveryRequest) {
  // A reload changes the token: the next request (same handler, as on a
  // kept-alive connection) is checked against the new one.
  std::string current = "old";
  Handler h = require_token(routes(), [&current] { return current; });
  EXPECT_EQ(h("GET", "/status", "", "Bearer old").status, 200);
  current = "new";
  EXPECT_EQ(h("GET", "/status", "", "Bearer old").status, 401);
  EXPECT_EQ(h("GET", "/status", "", "Bearer new").status, 200);
  current = "";
  EXPECT_EQ(h("GET", "/status", "", "").status, 200);
}

std::string sha256_b64(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, md, SHA256_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

std::string between(const std::string& s, const std::string& open, const std::string& close) {
  size_t a = s.find(open);
  if (a == std::string::npos) return "<none>";
  a += open.size();
  size_t b = s.find(close, a);
  return b == std::string::npos ? "<none>" : s.substr(a, b - a);
}

TEST(AdminDashboard, RouteServesThePage) {
  Handler h = routes();
  Response r = h("GET", "/", "", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body.rfind("<!doctype html>", 0), 0u);
  EXPECT_EQ(h("HEAD", "/", "", "").status, 200);
  Response post = h("POST", "/", "", "");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(field(post, "Allow"), "GET, HEAD");
  EXPECT_EQ(h("GET", "/index.html", "", "").status, 404);
}

TEST(AdminDashboard, PageEmbedsItsAssetsAndItsCspNamesThemByHash) {
  Response r = dashboard_page();
  const std::string& html = r.body;
  // The marks are replaced by the embedded CSS and JS.
  EXPECT_EQ(html.find("@DASHBOARD_"), std::string::npos);
  EXPECT_EQ(between(html, "<style>", "</style>"), std::string(embedded::dashboard_css()));
  EXPECT_EQ(between(html, "<script>", "</script>"), std::string(embedded::dashboard_js()));
  EXPECT_GT(embedded::dashboard_js().size(), 1000u);
  // Exactly one inline script and style, nothing fetched from elsewhere.
  EXPECT_EQ(html.find("<script", html.find("<script") + 1), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  const std::string csp = field(r, "Content-Security-Policy");
  EXPECT_EQ(csp.rfind("default-src 'self'; ", 0), 0u) << csp;
  EXPECT_NE(csp.find("script-src 'sha256-" + sha256_b64(embedded::dashboard_js()) + "'"),
            std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src 'sha256-" + sha256_b64(embedded::dashboard_css()) + "'"),
            std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(field(r, "X-Frame-Options"), "DENY");
}

}  // namespace
}  // namespace gh::admin
