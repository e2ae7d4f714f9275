#include "admin/dashboard.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string>

namespace gh::admin {

namespace {

constexpr std::string_view kCssMark = "@DASHBOARD_CSS@";
constexpr std::string_view kJsMark = "@DASHBOARD_JS@";

// CSP source expression for inline content: 'sha256-<base64 of its digest>'.
std::string csp_hash(std::string_view text) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(b64, md, SHA256_DIGEST_LENGTH);
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n)) + "'";
}

struct Page {
  std::string html;
  std::string csp;
};

// The template with the CSS and the JS put in place of their marks. (The
// assets are ours: neither holds "</style>" or "</script>".)
Page build_page() {
  Page p;
  std::string_view tpl = embedded::dashboard_html();
  std::string_view css = embedded::dashboard_css(), js = embedded::dashboard_js();
  size_t c = tpl.find(kCssMark), j = tpl.find(kJsMark);
  if (c == std::string_view::npos || j == std::string_view::npos || j < c) {
    p.html = "dashboard assets are broken\n";   // a build mistake; the unit tests catch it
    p.csp = "default-src 'none'";
    return p;
  }
  p.html.reserve(tpl.size() + css.size() + js.size());
  p.html.append(tpl.substr(0, c));
  p.html.append(css);
  p.html.append(tpl.substr(c + kCssMark.size(), j - c - kCssMark.size()));
  p.html.append(js);
  p.html.append(tpl.substr(j + kJsMark.size()));
  p.csp = "default-src 'self'; script-src " + csp_hash(js) + "; style-src " + csp_hash(css) +
          "; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'";
  return p;
}

const Page& page() {
  static const Page p = build_page();
  return p;
}

}  // namespace

std::string_view dashboard_csp() { return page().csp; }

Response dashboard_page() {
  const Page& p = page();
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = p.html;
  r.headers.emplace_back("Content-Security-Policy", p.csp);
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  return r;
}

}  // namespace gh::admin
