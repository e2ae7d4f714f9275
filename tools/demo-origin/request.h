// Request head of the demo origin and its (sans-I/O) parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

struct Header {
  std::string name;   // as sent
  std::string value;  // surrounding whitespace removed
};

struct Request {
  std::string method;
  std::string target;  // raw, query included
  int minor = 1;       // HTTP/1.<minor>
  std::vector<Header> headers;

  // Derived while parsing.
  bool chunked = false;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;

  // First value of a header, or nullptr.
  const std::string* find(std::string_view name) const;
  std::string_view path() const;
  std::string_view query() const;
  bool has_body() const { return chunked || content_length > 0; }
  bool is_head() const { return method == "HEAD"; }
};

// Parses a head: request line and header lines, CRLF-separated, without the
// final empty line. Returns false on anything malformed or ambiguous
// (bad tokens, obs-fold, bare CR/LF, CL with TE, conflicting CL, unknown TE).
bool parse_head(std::string_view head, Request& req);

}  // namespace demo
