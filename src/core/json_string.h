// JSON string literals: one escaping rule for every JSON gatehouse writes.
#pragma once

#include <string>
#include <string_view>

namespace gh::core {

// Appends `s` as a quoted JSON string. Accepts any bytes: quotes, backslashes
// and control characters are escaped, and bytes that are not valid UTF-8
// become U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace gh::core
