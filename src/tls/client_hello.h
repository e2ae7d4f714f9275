// A TLS ClientHello read before any TLS is done: what the first bytes a
// client sends on the TLS listener ask for (SNI, ALPN, ECH), so a `streams`
// entry with `sni` can pass the connection through untouched while every
// other one is terminated as usual. Pure and bounded: it looks only at the
// bytes it is given, consumes nothing, and decides within
// kMaxClientHelloBytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gh::tls {

// Most bytes (record headers included) a ClientHello may take before we stop
// waiting for it: 32 KiB. A TLS 1.3 ClientHello with a post-quantum key
// share (X25519MLKEM768) is about 1.8 KiB and one with a large PSK ticket a
// few KiB; 32 KiB leaves room for clients we have not seen while keeping
// the peek (which holds the bytes in the kernel's receive buffer, 128 KiB
// by default) small. Past it the answer is not_tls: the connection is
// terminated as if no stream matched, and OpenSSL decides.
inline constexpr size_t kMaxClientHelloBytes = 32 * 1024;

enum class ClientHelloStatus {
  need_more,   // a valid prefix: wait for more bytes (never once kMaxClientHelloBytes are there)
  complete,    // the whole ClientHello is there and well formed
  not_tls,     // not a TLS ClientHello, or a malformed or oversized one
};

// What a ClientHello asks for.
struct ClientHello {
  ClientHelloStatus status = ClientHelloStatus::need_more;
  // complete: bytes the records carrying the ClientHello take, from the
  // first record header to the end of the record holding its last byte.
  size_t length = 0;
  // complete: the SNI host_name (RFC 6066 section 3), lower-cased, without
  // a trailing dot. Empty when the client sent none, or sent a name that is
  // not a DNS name (an IP literal, bytes outside letters, digits, '-' and
  // '_', labels over 63 bytes): such a name can match no `sni` entry.
  std::string server_name;
  // complete: the client offers ECH (RFC 9849 encrypted_client_hello,
  // 0xfe0d, or the draft ESNI extension 0xffce). The SNI it shows is then
  // the ECH public name, not the name the client wants: never pass through by it.
  bool ech = false;
  // complete: the ALPN protocol names in the client's order (RFC 7301 3.1).
  std::vector<std::string> alpn;
  // not_tls: why, for a debug log (a static string).
  const char* error = "";
};

// Reads the ClientHello at the start of `in`, which holds every byte the
// client has sent so far (TLS plaintext records, RFC 8446 5.1; the
// ClientHello, 4.1.2, may be split across several handshake records, and
// the records across reads). Refuses (not_tls): a first byte other than a
// handshake record (SSLv2-style hellos, plain HTTP, other record types), a
// record version whose major byte is not 3, empty records or records over
// 2^14 bytes, a record of another type between the ClientHello's fragments,
// a first handshake message that is not a ClientHello, lengths that do not
// add up at any level, a repeated server_name, ALPN or ECH extension, a
// ServerNameList that is not exactly one host_name, an empty ALPN name, and
// a ClientHello over kMaxClientHelloBytes. Never reads past `in`.
ClientHello parse_client_hello(std::string_view in);

}  // namespace gh::tls
