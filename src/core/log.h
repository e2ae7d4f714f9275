// Operational log lines (not the access log): one line each to stderr, with a
// UTC timestamp and a level. Thread-safe; a single write(2) per line.
#pragma once

#include <cstdarg>

namespace gh::core {

enum class Level { debug, info, warn, error };

void set_log_level(Level lvl);
void logf(Level lvl, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define GH_INFO(...) ::gh::core::logf(::gh::core::Level::info, __VA_ARGS__)
#define GH_WARN(...) ::gh::core::logf(::gh::core::Level::warn, __VA_ARGS__)
#define GH_ERROR(...) ::gh::core::logf(::gh::core::Level::error, __VA_ARGS__)
#define GH_DEBUG(...) ::gh::core::logf(::gh::core::Level::debug, __VA_ARGS__)

}  // namespace gh::core
