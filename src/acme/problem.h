// ACME problem documents (RFC 7807, RFC 8555 6.7) turned into one line for
// the log, so an operator reads why the CA refused. Internal to src/acme;
// declared here for the tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gh::acme {

// "<step>: <type>: <detail>" plus "; <identifier>: <type>: <detail>" for
// each subproblem (RFC 8555 6.7.1). `body` not a problem document (not JSON,
// no "type"): "<step>: HTTP <status>: <start of body>" with the body cut to
// 200 bytes and control bytes replaced, so a hostile CA cannot forge log
// lines.
std::string describe_problem(std::string_view step, long status, std::string_view body);

// The same for a problem object already parsed (an authorization's or a
// challenge's "error" member); no HTTP status.
std::string describe_problem(std::string_view step, const nlohmann::json& problem);

// The problem's "type" when `body` is a problem document, else "".
std::string problem_type(std::string_view body);

// `text` safe for one log line: trailing line ends and spaces dropped, at
// most `max` bytes, control bytes as '?'.
std::string printable(std::string_view text, size_t max = 200);

}  // namespace gh::acme
