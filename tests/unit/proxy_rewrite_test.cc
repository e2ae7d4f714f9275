#include "proxy/rewrite.h"

#include <gtest/gtest.h>

#include <string>

namespace gh::proxy {
namespace {

// nullptr as `want` means "unchanged" (nullopt).
struct Case {
  const char* in;
  const char* want;
};

std::string show(const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : std::string("(unchanged)"); }

template <typename Fn>
void run(Fn fn, const RewriteContext& ctx, std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    auto got = fn(c.in, ctx);
    if (c.want == nullptr) {
      EXPECT_FALSE(got.has_value()) << "in=\"" << c.in << "\" got " << show(got);
    } else {
      EXPECT_EQ(show(got), show(std::string(c.want))) << "in=\"" << c.in << "\"";
    }
  }
}

// GoCD behind the proxy as in its docs, but without ProxyPreserveHost: the
// backend (localhost:8153) sees its own address; clients use https://gocd.example.com.
RewriteContext gocd_own_host() {
  RewriteContext c;
  c.client_scheme = "https";
  c.client_host = "gocd.example.com";
  c.route_prefix = "/";
  c.preserve_host = false;
  c.backend_scheme = "http";
  c.backend_authority = "localhost:8153";
  c.backend_host = "localhost";
  return c;
}

// GoCD with ProxyPreserveHost and mounted under /gocd with strip_prefix.
RewriteContext gocd_under_prefix() {
  RewriteContext c;
  c.client_scheme = "https";
  c.client_host = "gocd.example.com";
  c.route_prefix = "/gocd";
  c.strip_prefix = true;
  c.preserve_host = true;
  c.backend_scheme = "http";
  c.backend_authority = "localhost:8153";
  c.backend_host = "localhost";
  return c;
}

// Both: an API mounted under /api, prefix stripped, backend host sent upstream.
RewriteContext api_both() {
  RewriteContext c;
  c.client_scheme = "http";
  c.client_host = "example.com:8080";
  c.route_prefix = "/api";
  c.strip_prefix = true;
  c.preserve_host = false;
  c.backend_scheme = "http";
  c.backend_authority = "10.0.0.1:3000";
  c.backend_host = "10.0.0.1";
  return c;
}

TEST(RewriteLocation, GocdBackendHost) {
  run(rewrite_location, gocd_own_host(),
      {
          {"http://localhost:8153/go/home", "https://gocd.example.com/go/home"},
          {"http://LOCALHOST:8153/go/home?x=1#f", "https://gocd.example.com/go/home?x=1#f"},
          {"HTTP://localhost:8153/go", "https://gocd.example.com/go"},
          {"http://localhost:8153", "https://gocd.example.com"},
          {"http://localhost:8153?x", "https://gocd.example.com?x"},
          {"http://localhost:8153/", "https://gocd.example.com/"},
          {"//localhost:8153/go", "//gocd.example.com/go"},
          // Not the backend's URL space.
          {"https://localhost:8153/go", nullptr},
          {"http://localhost/go", nullptr},
          {"http://localhost:81530/go", nullptr},
          {"http://localhost:8153.evil.com/go", nullptr},
          {"http://gocd.example.com/go", nullptr},
          {"https://gocd.example.com/go", nullptr},
          {"http://other.example/x", nullptr},
          {"http://user@localhost:8153/", nullptr},
          {"ftp://localhost:8153/", nullptr},
          {"http:localhost:8153/x", nullptr},
          {"//other/x", nullptr},
          // Paths and relative references: the backend saw the same paths.
          {"/go/home", nullptr},
          {"go/home", nullptr},
          {"../x", nullptr},
          {"#frag", nullptr},
          {"?q=1", nullptr},
          {"", nullptr},
          {"localhost:8153/x", nullptr},
      });
}

TEST(RewriteLocation, GocdPreserveHostIsInactive) {
  RewriteContext c = gocd_own_host();
  c.preserve_host = true;
  EXPECT_FALSE(c.active());
  run(rewrite_location, c,
      {
          {"http://gocd.example.com/go/home", nullptr},
          {"http://localhost:8153/go/home", nullptr},
          {"/go", nullptr},
      });
}

TEST(RewriteLocation, StripPrefixPreserveHost) {
  run(rewrite_location, gocd_under_prefix(),
      {
          {"/go/home", "/gocd/go/home"},
          {"/", "/gocd/"},
          {"/?x=1", "/gocd/?x=1"},
          {"/x#frag", "/gocd/x#frag"},
          // The backend saw our Host: the scheme it chose stays, the path is mapped.
          {"http://gocd.example.com/go/home", "http://gocd.example.com/gocd/go/home"},
          {"https://gocd.example.com/go/home", "https://gocd.example.com/gocd/go/home"},
          {"https://GOCD.example.com:443/go", "https://GOCD.example.com:443/gocd/go"},
          {"http://gocd.example.com:80/go", "http://gocd.example.com:80/gocd/go"},
          {"http://gocd.example.com", "http://gocd.example.com/gocd/"},
          {"//gocd.example.com/go", "//gocd.example.com/gocd/go"},
          {"http://gocd.example.com:8080/go", nullptr},
          {"http://localhost:8153/go", nullptr},
          {"https://elsewhere.example/go", nullptr},
          {"go/home", nullptr},
          {"#top", nullptr},
      });
}

TEST(RewriteLocation, StripPrefixBackendHost) {
  run(rewrite_location, api_both(),
      {
          {"http://10.0.0.1:3000/users/7", "http://example.com:8080/api/users/7"},
          {"http://10.0.0.1:3000/", "http://example.com:8080/api/"},
          {"http://10.0.0.1:3000", "http://example.com:8080/api/"},
          {"http://10.0.0.1:3000?page=2", "http://example.com:8080/api/?page=2"},
          {"//10.0.0.1:3000/x", "//example.com:8080/api/x"},
          {"/users", "/api/users"},
          {"/", "/api/"},
          {"http://10.0.0.1/users", nullptr},
          {"http://example.com:8080/users", nullptr},
          {"users", nullptr},
      });
}

TEST(RewriteLocation, BackendHostKeepsPrefix) {
  RewriteContext c;
  c.client_scheme = "https";
  c.client_host = "www.example.com";
  c.route_prefix = "/api";
  c.preserve_host = false;
  c.backend_scheme = "http";
  c.backend_authority = "b.internal";
  c.backend_host = "b.internal";
  run(rewrite_location, c,
      {
          {"http://b.internal/api/x", "https://www.example.com/api/x"},
          {"http://b.internal:80/api", "https://www.example.com/api"},
          {"http://B.Internal/api?x", "https://www.example.com/api?x"},
          {"http://b.internal/other", nullptr},   // outside the route's prefix
          {"http://b.internal/apix", nullptr},
          {"http://b.internal", nullptr},
          {"https://b.internal/api/x", nullptr},  // backend speaks http; https is another service
          {"/api/x", nullptr},
      });
}

TEST(RewriteLocation, DefaultPortsAndIpv6) {
  RewriteContext c = gocd_own_host();
  c.backend_scheme = "https";
  c.backend_authority = "[::1]:443";
  c.backend_host = "::1";
  run(rewrite_location, c,
      {
          {"https://[::1]/x", "https://gocd.example.com/x"},
          {"https://[::1]:443/x", "https://gocd.example.com/x"},
          {"https://[::1]:8443/x", nullptr},
          {"https://[::2]/x", nullptr},
          {"https://[::1/x", nullptr},
      });
}

TEST(RewriteLocation, NoClientHostGivesPathReference) {
  RewriteContext c = api_both();
  c.client_host = "";
  run(rewrite_location, c,
      {
          {"http://10.0.0.1:3000/users", "/api/users"},
          {"http://10.0.0.1:3000?q", "/api/?q"},
      });
  c = gocd_own_host();
  c.client_host = "";
  run(rewrite_location, c,
      {
          {"http://localhost:8153/go", "/go"},
          {"http://localhost:8153", "/"},
      });
}

TEST(RewriteLocation, RootPrefixWithStripIsIdentity) {
  RewriteContext c = gocd_under_prefix();
  c.route_prefix = "/";
  run(rewrite_location, c,
      {
          {"/x", nullptr},
          {"http://gocd.example.com/x", nullptr},
      });
}

TEST(RewriteLocation, NeverProducesControlBytes) {
  RewriteContext c = gocd_own_host();
  EXPECT_FALSE(rewrite_location("http://localhost:8153/x\r\nSet-Cookie: a=b", c));
  EXPECT_FALSE(rewrite_location(std::string_view("http://localhost:8153/\0x", 24), c));
  c.client_host = "evil\r\nX: y";
  EXPECT_FALSE(rewrite_location("http://localhost:8153/x", c));
  c = gocd_under_prefix();
  c.route_prefix = "/a\nb";
  EXPECT_FALSE(rewrite_location("/x", c));
}

TEST(RewriteLocation, LongValuesUnchanged) {
  RewriteContext c = gocd_own_host();
  std::string base = "http://localhost:8153/";
  std::string fits = base + std::string(kMaxRewriteValue - base.size(), 'a');
  EXPECT_TRUE(rewrite_location(fits, c));
  EXPECT_FALSE(rewrite_location(fits + "a", c));
}

TEST(RewriteRefresh, Table) {
  run(rewrite_refresh, gocd_own_host(),
      {
          {"5; url=http://localhost:8153/go", "5; url=https://gocd.example.com/go"},
          {"0;URL='http://localhost:8153/x'", "0;URL='https://gocd.example.com/x'"},
          {"0; URL = \"http://localhost:8153/x\" ", "0; URL = \"https://gocd.example.com/x\" "},
          {"3, http://localhost:8153/x", "3, https://gocd.example.com/x"},
          {"  7 ;url=http://localhost:8153/x  ", "  7 ;url=https://gocd.example.com/x  "},
          {"1.5; url='http://localhost:8153/x", "1.5; url='https://gocd.example.com/x"},  // unclosed quote
          {"5", nullptr},
          {"5;", nullptr},
          {"5; url=", nullptr},
          {"5; url=http://other/x", nullptr},
          {"5; url=/x", nullptr},
          {"soon; url=http://localhost:8153/x", nullptr},
          {"", nullptr},
      });
  run(rewrite_refresh, gocd_under_prefix(),
      {
          {"1;url=/x", "1;url=/gocd/x"},
          {"0; url = '/' ", "0; url = '/gocd/' "},
          {"0; /x?y", "0; /gocd/x?y"},
          {"0; urlx", nullptr},
      });
}

TEST(RewriteSetCookie, PathWithStripPrefix) {
  run(rewrite_set_cookie, gocd_under_prefix(),
      {
          {"JSESSIONID=abc; Path=/; HttpOnly", "JSESSIONID=abc; Path=/gocd; HttpOnly"},
          {"a=b; path=/go; Secure", "a=b; path=/gocd/go; Secure"},
          {"a=b;PATH = /x ;Secure", "a=b;PATH = /gocd/x ;Secure"},
          {"a=b; Path=/x; Path=/y", "a=b; Path=/gocd/x; Path=/gocd/y"},
          {"a=b; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/", "a=b; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/gocd"},
          // preserve_host: Domain stays as it is.
          {"a=b; Domain=localhost; Path=/", "a=b; Domain=localhost; Path=/gocd"},
          {"a=b; Domain=localhost", nullptr},
          {"a=b", nullptr},
          {"a=b; HttpOnly", nullptr},
          {"path=/x", nullptr},               // the cookie's own name=value is never touched
          {"path=/x; Secure", nullptr},
          {"a=b; Path=relative", nullptr},
          {"a=b; Path=", nullptr},
          {"a=b; Path", nullptr},
          {"a=b; MyPath=/x", nullptr},
          {"", nullptr},
          {";;;", nullptr},
          {"a=b; =; ==; ; Path=/", "a=b; =; ==; ; Path=/gocd"},
      });
}

TEST(RewriteSetCookie, DomainWithBackendHost) {
  run(rewrite_set_cookie, gocd_own_host(),
      {
          {"s=1; Domain=localhost; Path=/", "s=1; Domain=gocd.example.com; Path=/"},
          {"s=1; domain=.LOCALHOST", "s=1; domain=.gocd.example.com"},
          {"s=1; DOMAIN = localhost ; Secure", "s=1; DOMAIN = gocd.example.com ; Secure"},
          {"s=1; Domain=other.com", nullptr},
          {"s=1; Domain=localhost.evil", nullptr},
          {"s=1; Path=/x", nullptr},          // no strip_prefix: path untouched
          {"Domain=localhost", nullptr},
      });
  run(rewrite_set_cookie, api_both(),
      {
          {"id=9; Domain=10.0.0.1; Path=/", "id=9; Domain=example.com; Path=/api"},  // port dropped
          {"id=9; Path=/v2/x; SameSite=Lax", "id=9; Path=/api/v2/x; SameSite=Lax"},
      });
}

TEST(RewriteSetCookie, Limits) {
  RewriteContext c = api_both();
  EXPECT_FALSE(rewrite_set_cookie("a=b; Path=/\r\nX: y", c));
  c.client_host = "bad\nhost";
  EXPECT_FALSE(rewrite_set_cookie("a=b; Domain=10.0.0.1", c));
  c = api_both();
  std::string big = "a=" + std::string(kMaxRewriteValue, 'x') + "; Path=/";
  EXPECT_FALSE(rewrite_set_cookie(big, c));
}

TEST(Rewrite, InactiveContextChangesNothing) {
  RewriteContext c = gocd_own_host();
  c.preserve_host = true;
  EXPECT_FALSE(rewrite_location("http://localhost:8153/x", c));
  EXPECT_FALSE(rewrite_refresh("0; url=http://localhost:8153/x", c));
  EXPECT_FALSE(rewrite_set_cookie("a=b; Domain=localhost; Path=/", c));
}

TEST(Rewrite, HostileBytesDoNotCrash) {
  const RewriteContext ctxs[] = {gocd_own_host(), gocd_under_prefix(), api_both()};
  const std::string_view pieces[] = {"http://", "//", "/", ":", "[", "]", "@", ";", "=", "'", "\"", "?", "#",
                                     "localhost:8153", "path", "domain", "url", " ", ",", "0", "%"};
  std::string s;
  for (int round = 0; round < 2000; ++round) {
    s.clear();
    unsigned x = static_cast<unsigned>(round) * 2654435761u;
    for (int k = 0; k < 8; ++k) {
      s.append(pieces[x % (sizeof(pieces) / sizeof(pieces[0]))]);
      x = x * 1103515245u + 12345u;
    }
    for (const RewriteContext& c : ctxs) {
      for (auto r : {rewrite_location(s, c), rewrite_refresh(s, c), rewrite_set_cookie(s, c)}) {
        if (r) {
          EXPECT_EQ(r->find_first_of(std::string_view("\r\n\0", 3)), std::string::npos);
        }
      }
    }
  }
}

}  // namespace
}  // namespace gh::proxy
