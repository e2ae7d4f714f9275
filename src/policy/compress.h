// The `compress` policy (CONTRACT "Policies"): whether one response is
// compressed on its way to the client, and in which content coding
// (RFC 9110 8.4), negotiated from the request's Accept-Encoding (12.5.3).
// The decision only; the bytes are coded by proxy/compress_sink.h, the
// fields edited where the forward path writes the response head.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coding/negotiate.h"
#include "config/config.h"
#include "http/exchange.h"

namespace gh::policy {

struct CompressChoice {
  // identity: the body passes as it is.
  coding::Coding coding = coding::Coding::identity;
  // The representation depends on Accept-Encoding (it would have been
  // compressed for some client): `Vary: Accept-Encoding` goes on it.
  bool vary = false;
};

class CompressRule {
 public:
  explicit CompressRule(const config::Compress& conf);

  // Never coded for a HEAD request (which still gets `vary` as its GET
  // would), nor for a 1xx/204/206/304 status, a response that
  // already has a Content-Encoding (other than identity) or a Content-Range,
  // `Cache-Control: no-transform` (RFC 9111 5.2.2.6), a media type not listed
  // (or none), text/event-stream, or a known `length` (bytes) under
  // min_size. Otherwise the coding the client accepts best among the
  // configured ones (ties: configured order), identity when it accepts none.
  CompressChoice choose(bool head_request, int status,
                        std::span<const http::Field> request_fields,
                        std::span<const http::Field> response_fields,
                        std::optional<uint64_t> length) const;

  // A response's Vary value `vary` with Accept-Encoding added (RFC 9110
  // 12.5.5), into `out`. False, `out` untouched, when it lists
  // Accept-Encoding or "*" already.
  static bool vary_with_accept_encoding(std::string_view vary, std::string& out);

  // Whether `media_type` (lower case, no parameters) is one to compress.
  bool compresses_type(std::string_view media_type) const;

 private:
  std::vector<coding::Coding> offered_;
  uint64_t min_size_;
  std::vector<std::string> types_;      // exact media types
  std::vector<std::string> prefixes_;   // "text/" for "text/*"
  bool any_type_ = false;               // "*/*"
};

}  // namespace gh::policy
