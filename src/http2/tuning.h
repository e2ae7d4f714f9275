// Fixed sizes of the codec (internal to src/http2); the tunable ones are in
// Limits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gh::http2 {

// pending_output() stops pulling frames from nghttp2 once this many bytes
// wait to be written (one frame more at most: 16 KiB + 9 of DATA, or one
// header block).
inline constexpr size_t kOutputHighWater = 64 * 1024;
// A stream's send queue may exceed the peer's window by this much, so the
// next DATA frame is ready when a WINDOW_UPDATE arrives.
inline constexpr uint64_t kSendSlack = 16 * 1024;
// Largest header block we send (nghttp2 fails the frame above it).
inline constexpr size_t kMaxSendHeaderBlock = 64 * 1024;
// Unsent SETTINGS/PING ACKs nghttp2 keeps before NGHTTP2_ERR_FLOODED.
inline constexpr size_t kMaxQueuedAcks = 256;
// SETTINGS entries accepted in one frame (7 are defined; repeats allowed).
inline constexpr size_t kMaxSettingsEntries = 32;
// Opaque data of the PING that closes step one of a graceful shutdown.
inline constexpr uint8_t kDrainPing[8] = {'g', 'h', '-', 'd', 'r', 'a', 'i', 'n'};

}  // namespace gh::http2
