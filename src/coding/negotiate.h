// Content codings (RFC 9110 section 8.4) and the choice of one for a
// response from the request's Accept-Encoding (section 12.5.3). Only the
// codings we can produce are named here: the compress policy offers some of
// them, negotiate() picks what the client accepts. Nothing here allocates:
// it runs for every response the policy might compress.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gh::coding {

// identity is "no coding" (section 12.5.3): it never appears in
// Content-Encoding, only in Accept-Encoding.
enum class Coding : uint8_t { identity, gzip, br, zstd };
inline constexpr size_t kCodings = 4;

// The coding's token as sent in Content-Encoding: "identity", "gzip", "br",
// "zstd" (lower case, the registered spelling).
std::string_view token(Coding c);

// Accepts one of the tokens above in any case, and "x-gzip" as gzip
// (section 8.4.1.3). Refuses anything else, including surrounding
// whitespace, parameters and "*".
std::optional<Coding> parse_coding(std::string_view s);

struct Negotiated {
  // What to send: a coding from `offered`, or identity when none of them is
  // acceptable (or the client sent no Accept-Encoding).
  Coding coding = Coding::identity;
  // False when the client refused identity ("identity;q=0", or "*;q=0"
  // without an identity entry). With coding == identity the response goes
  // out uncoded anyway: a proxy has nothing better to send, and section
  // 12.5.3 leaves 415/406 to the origin.
  bool identity_acceptable = true;
};

// Picks the coding for a response (RFC 9110 section 12.5.3).
// `accept_encoding_lines`: the values of every Accept-Encoding field line of
// the request, in order (several lines are one comma list, section 5.3);
// empty when the request has none. `offered`: the codings we may produce, in
// the server's order of preference.
//
// Each element is `coding [ OWS ";" OWS "q=" qvalue ]`, qvalue 0..1 with at
// most three decimals ("q" in either case). q=0 means "not acceptable". A
// coding not listed is acceptable with the weight of "*" if "*" is listed,
// otherwise not at all. When a coding is listed twice (or as gzip and
// x-gzip), the first element counts. Malformed elements (a bad token or q,
// any other parameter, a quoted string) are skipped, never an error; unknown
// codings are ignored.
//
// Result: the acceptable coding of `offered` with the highest weight, ties
// going to the earlier one in `offered`. identity competes only if it is in
// `offered`; unlisted (and not covered by "*") it is acceptable but ranks
// below every coding the client listed. No Accept-Encoding at all means
// identity: RFC 9110 would allow any coding, but a proxy must not compress
// for a client that never said it can decode. An empty value means the
// same (section 12.5.3).
Negotiated negotiate(std::span<const std::string_view> accept_encoding_lines,
                     std::span<const Coding> offered);

}  // namespace gh::coding
