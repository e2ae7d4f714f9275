// The admin dashboard page (GET / on the admin listener): one HTML document
// with its CSS and JavaScript inline, all compiled into the binary from
// src/admin/dashboard/. The script polls /status and /metrics and computes
// rates and latency itself; with admin.token_file it asks for the token.
#pragma once

#include <string_view>

#include "admin/admin_server.h"

namespace gh::embedded {
// The files of src/admin/dashboard/, as cmake/embed_files.cmake wrote them.
std::string_view dashboard_html();
std::string_view dashboard_css();
std::string_view dashboard_js();
}  // namespace gh::embedded

namespace gh::admin {

// 200 text/html with a Content-Security-Policy that allows only this page's
// own script and style (by their SHA-256, CSP level 2) and fetches to the
// same origin: no inline code but ours, no external fonts or scripts, no
// framing. Built once; the same bytes every time.
Response dashboard_page();

// The page's Content-Security-Policy value (for tests).
std::string_view dashboard_csp();

}  // namespace gh::admin
