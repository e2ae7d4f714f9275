// Incremental decoder for the chunked transfer coding (RFC 9112 section 7.1).
// Sans-I/O: feed it whatever bytes arrived; it hands back body data as views
// into those bytes, never copying data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gh::http1 {

class ChunkedDecoder {
 public:
  struct Step {
    size_t consumed = 0;        // bytes of the input used by this step
    std::string_view data;      // body data found (a view into the input), may be empty
    bool done = false;          // last chunk and trailer section fully read
    bool error = false;         // malformed; `detail` says why
    const char* detail = "";
  };

  // Decodes from the start of `in`. Call repeatedly, removing `consumed`
  // bytes each time, until consumed == 0 (needs more input), done or error.
  // Accepts: hex sizes (no sign, no 0x, no underscores, at most 16 hex digits
  // and no overflow), chunk extensions (";name[=value]", validated and
  // dropped), CRLF line ends, trailer fields (validated, kept in trailers()).
  // Refuses: bare LF/CR, missing CRLF after data, bad hex, overflow, oversized
  // size/extension lines (> 4 KiB) or trailer section (> max_trailer_bytes),
  // whitespace anywhere in a size line, obs-fold in trailers, and framing or
  // routing fields sent as trailers (Content-Length, Transfer-Encoding, Host,
  // Connection). After an error every call returns the error again; after
  // done every call returns done with consumed == 0.
  Step next(std::string_view in);

  // Trailer field lines ("Name: value\r\n" each, re-serialized, CRLF ends),
  // available once done. Empty when the message had no trailers.
  const std::string& trailers() const { return trailers_; }

  void reset();
  explicit ChunkedDecoder(size_t max_trailer_bytes = 16 * 1024) : max_trailer_(max_trailer_bytes) {}

 private:
  enum class State { size_line, data, data_crlf, trailer, done, failed };
  State state_ = State::size_line;
  uint64_t remaining_ = 0;
  std::string trailers_;
  size_t max_trailer_;
};

}  // namespace gh::http1
