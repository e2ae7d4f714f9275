// Range requests answered from a stored complete response (RFC 9110
// section 14): one byte range gets 206 with Content-Range, an unsatisfiable
// one 416. The pure part: parsing Range and judging If-Range.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "http/exchange.h"

namespace gh::cache {

struct ByteRange {
  enum class Kind : uint8_t {
    none,            // no Range, another unit, malformed, or several ranges: send the whole 200
    satisfiable,     // one range: bytes first..last (inclusive) of the representation
    unsatisfiable,   // one range that selects nothing of it (14.1.1): 416
  };
  Kind kind = Kind::none;
  uint64_t first = 0;
  uint64_t last = 0;   // inclusive; < size
};

// Parses one `Range` field value (14.1.2) for a representation of `size`
// bytes: "bytes=a-b" (b past the end is clipped), "bytes=a-" and the suffix
// "bytes=-n" (the last n bytes; n = 0 is unsatisfiable). Several ranges
// ("bytes=0-1,5-6"), other units, a reversed range ("5-1"), signs, spaces
// inside numbers or an empty spec are `none`: RFC 9110 14.2 lets a server
// ignore Range, and answering the whole 200 avoids multipart bodies.
// OWS around the spec and after '=' is allowed. A first-byte-pos at or past
// `size` is unsatisfiable, as is any range of an empty representation.
ByteRange parse_range(std::string_view value, uint64_t size);

// Section 13.1.5: whether a request's If-Range lets the Range apply to the
// stored response with `stored_fields`. True without If-Range. An
// entity-tag must equal the stored ETag by the strong comparison (both
// strong, same opaque-tag); an HTTP-date must equal the stored
// Last-Modified byte for byte (the date the client got from us). Anything
// else (a weak tag, no stored validator, a malformed value): false, and the
// whole representation is sent.
bool if_range_holds(std::span<const http::Field> request_fields,
                    std::span<const http::Field> stored_fields);

}  // namespace gh::cache
