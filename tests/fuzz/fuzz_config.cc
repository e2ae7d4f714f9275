// libFuzzer target: config::load_string on arbitrary text taken as YAML.
//
// load_string promises never to throw; every problem must be an Error with a
// real position (line and column >= 1) and a message, and a config comes
// back exactly when there are no errors. A config that loads must also be
// usable: every route has a normalized path and at least one backend, and a
// Router built from it routes a few requests to valid indexes.
//
// Errors whose message starts with "cannot load config:" come from the
// loader's last-resort catch: an exception (from yaml-cpp node access,
// std::filesystem, ...) that the section loaders did not expect. They are
// not crashes, but they are bugs in the loader's error reporting, so by
// default they stop the run too; set GH_FUZZ_CONFIG_ALLOW_CATCHALL=1 to
// let them pass.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/router.h"

#include "fuzz_check.h"

using namespace gh;


namespace {

const bool kAllowCatchAll = [] {
  const char* v = std::getenv("GH_FUZZ_CONFIG_ALLOW_CATCHALL");
  return v != nullptr && v[0] == '1';
}();

void check_config(const config::Config& c) {
  for (const config::Route& r : c.server.reverse_proxy) {
    FUZZ_CHECK(!r.path.empty() && r.path[0] == '/');
    FUZZ_CHECK(r.path == "/" || r.path.back() != '/');
    FUZZ_CHECK(!r.backends.empty());
    for (const config::BackendConf& b : r.backends) {
      FUZZ_CHECK(!b.host.empty());
      FUZZ_CHECK(b.weight >= 1 && b.weight <= 1000);
    }
    for (const std::string& d : r.domains) FUZZ_CHECK(!d.empty());
  }
  const proxy::Router router(c.server.reverse_proxy);
  const int n = static_cast<int>(c.server.reverse_proxy.size());
  for (const char* host : {"", "example.com", "a.example.com:8080", "[::1]:80"}) {
    for (const char* path : {"/", "/api/x?y", "/ws"}) {
      const int i = router.match(host, path);
      FUZZ_CHECK(i >= -1 && i < n);
      if (i >= 0) FUZZ_CHECK(proxy::prefix_matches(c.server.reverse_proxy[size_t(i)].path, path));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A relative name: relative paths in the text resolve against the working
  // directory, which scripts/fuzz.sh makes a scratch directory.
  const config::LoadResult r = config::load_string(text, "fuzz.yaml");
  FUZZ_CHECK(r.config.has_value() == r.errors.empty());
  for (const config::Error& e : r.errors) {
    FUZZ_CHECK(e.file == "fuzz.yaml");
    FUZZ_CHECK(e.line >= 1 && e.col >= 1);
    FUZZ_CHECK(!e.message.empty());
    if (!kAllowCatchAll && e.message.rfind("cannot load config:", 0) == 0) {
      std::fprintf(stderr, "unexpected exception in the loader: %s\n", e.message.c_str());
      std::abort();
    }
    FUZZ_CHECK(e.str().rfind("fuzz.yaml:", 0) == 0);
  }
  if (r.config) check_config(*r.config);
  return 0;
}
