// Status reason phrases, RFC 9209 Proxy-Status fields, and the Date header:
// protocol facts shared by every codec and by proxy-made responses.
#pragma once

#include <string>
#include <string_view>

namespace gh::http {

// "Not Found" for 404; "" for codes we do not know.
const char* reason_phrase(int status);

// Appends "gatehouse; error=NAME[; next-hop="HOP"][; details="..."]" (an RFC 9209
// Proxy-Status member). `error` must be an RFC 9209 error type token; hop and
// details are made safe for an sf-string (non-printable bytes become '?').
void append_proxy_status(std::string& out, std::string_view error, std::string_view next_hop,
                         std::string_view details);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
// cached per thread for the current second.
std::string_view http_date();

}  // namespace gh::http
