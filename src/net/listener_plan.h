// Which listeners a config asks for: one place, used at start, on reload
// and by a binary upgrade's new process.
#pragma once

#include <vector>

#include "config/config.h"
#include "net/server.h"

namespace gh::net {

// Plain HTTP on server.port, and TLS on ssl.port when set; without
// ssl.port, server.port itself speaks TLS (when ssl is enabled). Then the
// admin listener when admin.enabled, then one "stream" listener per
// `streams` entry with `listen`.
std::vector<ListenerSpec> listeners_for(const config::Config& cfg);

}  // namespace gh::net
