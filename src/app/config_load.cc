#include "app/config_load.h"

#include "core/log.h"
#include "tls/certificates.h"

namespace gh::app {

config::LoadResult load_checked(const std::string& file) {
  auto res = config::load_file(file);
  if (res.errors.empty()) {
    res.errors = tls::validate(*res.config);
    if (!res.errors.empty()) res.config.reset();
  }
  return res;
}

void log_warnings(const config::LoadResult& res) {
  for (const auto& w : res.warnings) GH_WARN("%s", w.str().c_str());
}

}  // namespace gh::app
