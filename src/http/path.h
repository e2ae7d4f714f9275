// Request path normalization: the one spelling of a path that routing and
// every path-based policy compare against, whatever spelling the client used.
// Protocol neutral (an HTTP/1 origin-form target or an HTTP/2 :path); the
// bytes sent upstream are not this form but the client's own (see
// CONTRACT.md, "On the wire").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::http {

enum class PathStatus : uint8_t {
  ok,
  not_absolute,  // empty, or not starting with '/' ("*", "a/b", "http://h/x")
  bad_escape,    // '%' not followed by two hex digits: "%zz", "%4", "%"
  bad_byte,      // control byte, space, DEL, '#', byte >= 0x80, '\', or %00 / %5C
  above_root,    // a ".." with no segment left to remove: "/..", "/a/../../b"
};

// Appends the normal form of `target` ("/path" plus an optional "?query") to
// `out`. On refusal returns why and leaves `out` as it was.
//
// The normal form, in this order:
//  1. Percent-encoding (RFC 3986 section 6.2.2.1 and 6.2.2.2): an escape of an
//     unreserved character (ALPHA DIGIT "-" "." "_" "~") is decoded: "%41" ->
//     "A", "%7e" -> "~", "%2e" -> "." (which then counts in step 3). Every
//     other escape stays encoded, its hex upper-cased: "%2f" -> "%2F". So an
//     encoded "/" is data, never a separator, and "/a%2Fb" is one segment.
//  2. Repeated "/" merge into one, before step 3, as nginx's merge_slashes
//     does: "/a//.." -> "/" (RFC 3986 alone would give "/a/", counting the
//     empty segment).
//  3. Dot segments (RFC 3986 section 5.2.4, remove_dot_segments): "." goes,
//     ".." removes the segment before it; a final "." or ".." leaves a
//     trailing "/" ("/a/b/.." -> "/a/"). A segment that is "." or ".."
//     before a raw ";" ("/..;x/") counts as a dot segment too, parameters and
//     all, because servlet containers cut path parameters before resolving:
//     "/public/..;/admin" is "/admin" to Tomcat, so it routes as "/admin".
//     Other ";params" stay as they are ("/a;v=1/b").
// The query, from the first "?", is appended unchanged and not examined.
//
// Refused: see PathStatus. A ".." above the root is refused rather than
// dropped (as RFC 3986 would) because a backend may resolve it otherwise. A
// backslash, raw or as %5C, is refused because some servers (IIS, many
// Windows-hosted frameworks) treat it as "/", so "/a/..\b" would reach a
// place we did not route it to; %00 because C-string backends truncate there.
// Other escapes of control bytes ("%0A") are data and kept.
//
// Sizes: the result is never longer than `target`, so `out` never grows by
// more than target.size() and reserving that avoids any allocation; one pass,
// O(n) time (a ".." only trims bytes already written). The length of a path
// is bounded by the caller (the request head limit).
PathStatus normalize_path(std::string_view target, std::string& out);

// The value of a HEXDIG of a percent-encoding (RFC 3986 2.1), either case;
// -1 for any other character.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A short phrase for a refusal, for Proxy-Status details and logs.
const char* path_status_text(PathStatus s);

}  // namespace gh::http
