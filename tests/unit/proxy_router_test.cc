#include "proxy/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/path.h"

namespace gh::proxy {
namespace proxy_router_test {

config::Route route(std::string path, std::vector<std::string> domains = {}) {
  config::Route r;
  r.path = std::move(path);
  r.domains = std::move(domains);
  return r;
}

// Route indices below are named so the table reads like the config.
enum : int {
  kAnyRoot,        // 0: "/"                       any host
  kAnyApi,         // 1: "/api"                    any host
  kAnyApiV1,       // 2: "/api/v1"                 any host
  kApiRoot,        // 3: "/"                       api.example.com
  kApiAdmin,       // 4: "/admin"                  api.example.com, ADMIN.example.com. (normalized)
  kWildRoot,       // 5: "/"                       *.example.com
  kWildDeepStatic, // 6: "/static"                 *.cdn.example.com
  kWildStatic,     // 7: "/static"                 *.example.com
  kAnyApiDup,      // 8: "/api"                    any host (tie: config order keeps 1)
  kV6,             // 9: "/"                       [::1]
  kOtherOnlyApp,   // 10: "/app"                   other.test
  kWildOnlyApp,    // 11: "/app"                   *.test
  kAnyDeep,        // 12: "/a/b/c"                 any host
};

std::vector<config::Route> table_routes() {
  return {
      route("/"),
      route("/api"),
      route("/api/v1"),
      route("/", {"api.example.com"}),
      route("/admin", {"api.example.com", "ADMIN.example.com."}),
      route("/", {"*.example.com"}),
      route("/static", {"*.cdn.example.com"}),
      route("/static", {"*.example.com"}),
      route("/api"),
      route("/", {"[::1]"}),
      route("/app", {"other.test"}),
      route("/app", {"*.test"}),
      route("/a/b/c"),
  };
}

struct Case {
  const char* host;
  const char* path;
  int want;
};

TEST(Router, Table) {
  auto routes = table_routes();
  Router r(routes);
  const Case cases[] = {
      // Domain-less: longest prefix on segment boundaries.
      {"", "/", kAnyRoot},
      {"", "/api", kAnyApi},
      {"", "/api/", kAnyApi},
      {"", "/api/users", kAnyApi},
      {"", "/api?x=1", kAnyApi},
      {"", "/api?", kAnyApi},
      {"", "/apix", kAnyRoot},
      {"", "/ap", kAnyRoot},
      {"", "/api/v1", kAnyApiV1},
      {"", "/api/v1/x?y", kAnyApiV1},
      {"", "/api/v10", kAnyApi},
      {"", "/API", kAnyRoot},          // case-sensitive
      {"", "/x?/api", kAnyRoot},       // query not part of matching
      {"", "/a/b/c/d", kAnyDeep},
      {"", "/a/b", kAnyRoot},
      {"", "", kAnyRoot},              // "/" matches everything
      {"", "*", kAnyRoot},
      {"unknown.org", "/api/x", kAnyApi},
      // Exact domain beats any domain-less route, even a longer prefix.
      {"api.example.com", "/api/v1/x", kApiRoot},
      {"api.example.com", "/", kApiRoot},
      {"api.example.com", "/admin", kApiAdmin},
      {"api.example.com", "/admin/users", kApiAdmin},
      {"api.example.com", "/adminx", kApiRoot},
      // Host normalization: case, port, trailing dot.
      {"API.Example.COM", "/admin", kApiAdmin},
      {"api.example.com:8080", "/admin", kApiAdmin},
      {"api.example.com.", "/admin", kApiAdmin},
      {"api.example.com.:443", "/admin", kApiAdmin},
      {"admin.example.com", "/admin/x", kApiAdmin},  // configured upper-case with trailing dot
      // admin.example.com has only "/admin" as exact route; "/" falls to the wildcard class.
      {"admin.example.com", "/other", kWildRoot},
      // Wildcards: one or more labels, never the bare suffix.
      {"www.example.com", "/", kWildRoot},
      {"a.b.example.com", "/x", kWildRoot},
      {"www.example.com", "/static/app.js", kWildStatic},
      {"x.cdn.example.com", "/static/app.js", kWildDeepStatic},  // longer suffix first
      {"y.x.cdn.example.com", "/static", kWildDeepStatic},
      {"x.cdn.example.com", "/other", kWildRoot},  // deeper wildcard has no match for the path
      {"cdn.example.com", "/static", kWildStatic},   // "*.cdn.example.com" needs a label
      {"example.com", "/api", kAnyApi},               // "*.example.com" does not cover the apex
      {"EXAMPLE.COM", "/", kAnyRoot},
      {"notexample.com", "/", kAnyRoot},
      {"www.example.com:8443", "/static/x", kWildStatic},
      {"www.example.com.", "/", kWildRoot},
      // Exact class is chosen only when one of its routes matches the path.
      {"other.test", "/app/x", kOtherOnlyApp},
      {"other.test", "/x", kAnyRoot},
      {"more.test", "/app", kWildOnlyApp},
      {"test", "/app", kAnyRoot},
      // IPv6 literals.
      {"[::1]:8080", "/api", kV6},
      {"[::1]", "/", kV6},
      {"[::2]:80", "/api", kAnyApi},
      {"[::1", "/api", kAnyApi},
      {"[::1]x", "/api", kAnyApi},
      // Malformed hosts only reach domain-less routes.
      {".example.com", "/", kAnyRoot},
      {"a..example.com", "/", kAnyRoot},
      {"evil/.example.com", "/", kAnyRoot},
      {"user@api.example.com", "/", kAnyRoot},
      {"api.example.com ", "/", kAnyRoot},
      {":80", "/api", kAnyApi},
      {".", "/", kAnyRoot},
      {"..", "/", kAnyRoot},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(r.match(c.host, c.path), c.want) << "host=\"" << c.host << "\" path=\"" << c.path << "\"";
  }
}

TEST(Router, NoMatchWithoutCatchAll) {
  std::vector<config::Route> routes = {route("/api"), route("/", {"a.example"}), route("/x", {"*.b.example"})};
  Router r(routes);
  EXPECT_EQ(r.match("", "/"), -1);
  EXPECT_EQ(r.match("", "/apix"), -1);
  EXPECT_EQ(r.match("zzz", "/api/1"), 0);
  EXPECT_EQ(r.match("a.example", "/anything"), 1);
  EXPECT_EQ(r.match("c.b.example", "/x/1"), 2);
  EXPECT_EQ(r.match("c.b.example", "/y"), -1);
  EXPECT_EQ(r.match("b.example", "/x"), -1);

  std::vector<config::Route> none;
  Router empty(none);
  EXPECT_EQ(empty.match("a", "/"), -1);
}

TEST(Router, TiesKeepConfigOrder) {
  std::vector<config::Route> routes = {
      route("/x", {"h.example"}), route("/x", {"h.example"}), route("/", {"*.example"}),
      route("/", {"*.example"}), route("/x"), route("/x")};
  Router r(routes);
  EXPECT_EQ(r.match("h.example", "/x"), 0);
  EXPECT_EQ(r.match("g.example", "/x"), 2);
  EXPECT_EQ(r.match("other", "/x"), 4);
}

TEST(Router, DuplicateDomainsInOneRoute) {
  std::vector<config::Route> routes = {route("/", {"a.example", "A.example", "*.z", "*.z"}), route("/q", {"a.example"})};
  Router r(routes);
  EXPECT_EQ(r.match("a.example", "/"), 0);
  EXPECT_EQ(r.match("a.example", "/q"), 1);
  EXPECT_EQ(r.match("y.z", "/q"), 0);
}

TEST(Router, LongHosts) {
  std::string label(63, 'a');
  std::string name = label + "." + label + "." + label + "." + std::string(59, 'b') + ".example";  // 255
  name.resize(255);
  std::vector<config::Route> routes = {route("/"), route("/", {name}), route("/", {"*.example"})};
  Router r(routes);
  EXPECT_EQ(r.match(name, "/"), 1);
  EXPECT_EQ(r.match(name + ":80", "/"), 1);
  EXPECT_EQ(r.match(name + ".", "/"), 1);
  std::string too_long(300, 'a');
  EXPECT_EQ(r.match(too_long + ".example", "/"), 0);
  EXPECT_EQ(r.match(std::string(100000, '.'), "/"), 0);
  EXPECT_EQ(r.match("x.example", "/"), 2);
}

TEST(Router, HostileBytesDoNotCrash) {
  auto routes = table_routes();
  Router r(routes);
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t i = 0; i + 8 <= bytes.size(); i += 3) {
    std::string_view chunk(bytes.data() + i, 8);
    int got = r.match(chunk, chunk);
    EXPECT_GE(got, -1);
  }
  EXPECT_EQ(r.match(std::string_view("api.example.com\0", 16), "/"), kAnyRoot);
}

// The session routes on http::normalize_path's form; these are the
// spellings of issue 11 and their kin, end to end through the router.
TEST(Router, RoutesTheNormalizedPath) {
  std::vector<config::Route> routes = {route("/"), route("/a"), route("/public"), route("/admin"),
                                       route("/~user")};
  Router r(routes);
  struct P {
    const char* path;
    int want;
  };
  const P cases[] = {
      {"/a//b/./c", 1},
      {"/public/../admin/x", 3},
      {"/public/..;/admin/x", 3},
      {"/%61dmin/x", 3},
      {"/%2561dmin/x", 0},          // "%25" is '%': "/%2561dmin" is no spelling of "/admin"
      {"/x/../public", 2},
      {"/admin/../public/x", 2},
      {"/public%2F..%2Fadmin", 0},  // one segment: an encoded slash is no separator
      {"/%7euser/x", 4},
      {"//admin", 3},
      {"/a/..", 0},
  };
  for (const P& c : cases) {
    std::string norm;
    ASSERT_EQ(http::normalize_path(c.path, norm), http::PathStatus::ok) << c.path;
    EXPECT_EQ(r.match("h", norm), c.want) << c.path << " -> " << norm;
  }
}

struct StripCase {
  const char* path;    // as the client sent it
  const char* prefix;
  const char* want;
};

TEST(StripRoutePrefix, Table) {
  const StripCase cases[] = {
      {"/api/users?x=1", "/api", "/users?x=1"},
      {"/api", "/api", "/"},
      {"/api/", "/api", "/"},
      {"/api?x", "/api", "/?x"},
      {"/api/v1/x", "/api/v1", "/x"},
      {"/x/y", "/", "/x/y"},
      {"/x/y?q", "", "/x/y?q"},
      {"/apix", "/api", "/apix"},        // under the prefix in neither form: unchanged
      {"/other", "/api", "/other"},
      // The client's own bytes when the raw path is under the prefix ...
      {"/api//users/./x?q=/../", "/api", "//users/./x?q=/../"},
      {"/api/x/../users", "/api", "/x/../users"},
      {"/api/%7e", "/api", "/%7e"},
      // ... the normalized path when only normalization puts it there, or
      // when the rest would climb out of the prefix.
      {"/x/../api/users?q=1", "/api", "/users?q=1"},
      {"/%61pi/users", "/api", "/users"},
      {"//api/users", "/api", "/users"},
      {"/api/../api/users", "/api", "/users"},
      {"/api/x/../../api/y", "/api", "/y"},
      {"/api/..", "/", "/api/.."},       // prefix "/": never changed
  };
  for (const StripCase& c : cases) {
    std::string norm;
    ASSERT_EQ(http::normalize_path(c.path, norm), http::PathStatus::ok) << c.path;
    std::string out = "KEEP";
    strip_route_prefix(c.path, norm, c.prefix, out);
    EXPECT_EQ(out, std::string("KEEP") + c.want) << c.path << " - " << c.prefix;
  }
  // Not normalized at all (an asterisk, an empty target): the raw bytes.
  std::string out;
  strip_route_prefix("", "", "/api", out);
  EXPECT_EQ(out, "");
}

TEST(StripRoutePrefix, NoAllocationWithCapacity) {
  std::string out;
  out.reserve(64);
  const char* data = out.data();
  strip_route_prefix("/api/some/long/path/segment?query=1", "/api/some/long/path/segment?query=1", "/api",
                     out);
  EXPECT_EQ(out, "/some/long/path/segment?query=1");
  EXPECT_EQ(out.data(), data);
}

}  // namespace proxy_router_test
}  // namespace gh::proxy
