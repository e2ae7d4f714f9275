// Loading a config the way `check`, `run` and a reload all do.
#pragma once

#include <string>

#include "config/config.h"

namespace gh::app {

// Loads the config and, when it parses, checks its certificates and keys
// (readable, parseable, matching): `check`, `run` and SIGHUP refuse the
// same files. Errors and warnings are in the result.
config::LoadResult load_checked(const std::string& file);

// A loaded config's warnings as log lines (at start and on reload).
void log_warnings(const config::LoadResult& res);

}  // namespace gh::app
