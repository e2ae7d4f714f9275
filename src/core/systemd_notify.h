// Readiness and state reports to systemd (Type=notify units), through
// libsystemd's sd_notify: the maintained implementation of the protocol
// (socket address forms, credentials, message size) rather than our own.
// Every call is a no-op when NOTIFY_SOCKET is not set, so outside systemd
// nothing is sent.
#pragma once

#include <string>

namespace gh::core {

// True when NOTIFY_SOCKET is set in the environment.
bool systemd_notify_enabled();

// Sends `state`, newline-separated "KEY=value" assignments (READY=1,
// RELOADING=1, STOPPING=1, STATUS=..., MAINPID=...; see sd_notify(3)).
// Returns false when not under systemd or the send failed; never throws.
bool systemd_notify(const std::string& state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": systemd 253's reload handshake
// (Type=notify-reload) wants the timestamp; older versions ignore it.
std::string systemd_reloading_state();

}  // namespace gh::core
