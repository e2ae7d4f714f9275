// The 64-bit hash behind ip_hash: client addresses and ring points alike.
// Words are read little-endian by hand so a given input hashes the same on
// every machine (several proxies in front of one pool agree on placement).
#include <cstring>

#include "upstream/balancer_kinds.h"

namespace gh::upstream {
namespace detail {
namespace {

// Odd constants with well-spread bits (golden ratio, and a second one), so
// that neither length nor position can cancel out.
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kLengthMul = 0xc2b2ae3d27d4eb4fULL;

uint64_t load_le(const uint8_t* p, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= uint64_t{p[i]} << (8 * i);
  return w;
}

}  // namespace

// Accepts any bytes and seed. Each 8-byte word goes through a full mix (two
// multiplies), which is plenty for 4- or 16-byte addresses and short names.
// The length enters first, so inputs that differ only in trailing zero bytes
// still differ; adding kGolden each round keeps 0 from being a fixed point.
uint64_t hash_bytes(std::span<const uint8_t> bytes, uint64_t seed) {
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  uint64_t h = mix64(seed ^ (uint64_t{n} * kLengthMul));
  for (; n >= 8; p += 8, n -= 8) h = mix64((h + kGolden) ^ load_le(p, 8));
  return mix64((h + kGolden) ^ load_le(p, n));
}

}  // namespace detail

uint64_t hash_client_address(std::span<const uint8_t> bytes) {
  // A fixed seed, different from the ring's, so client keys and ring points
  // are unrelated even for equal bytes.
  return detail::hash_bytes(bytes, 0x67617465686f7573ULL);  // "gatehous"
}

}  // namespace gh::upstream
