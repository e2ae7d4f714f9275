#include "coding/negotiate.h"

#include <array>

#include "http/token.h"

namespace gh::coding {
namespace {

constexpr std::array<std::string_view, kCodings> kTokens{"identity", "gzip", "br", "zstd"};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` equals `lower_word` (all lower case) ignoring ASCII case.
bool iequals(std::string_view s, std::string_view lower_word) {
  if (s.size() != lower_word.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lower(s[i]) != lower_word[i]) return false;
  }
  return true;
}

bool is_tchar(char c) { return http::is_tchar(static_cast<unsigned char>(c)); }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

void skip_ows(std::string_view s, size_t& i) {
  while (i < s.size() && is_ows(s[i])) ++i;
}

// qvalue (RFC 9110 section 12.4.2) in thousandths: "0", "0.", "0.5",
// "0.125", "1", "1.000". Refuses more than three decimals, values above 1,
// and a leading "." or sign.
std::optional<int> parse_qvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int whole = s[0] - '0';
  if (s.size() == 1) return whole * 1000;
  if (s[1] != '.' || s.size() > 5) return std::nullopt;
  int frac = 0;
  int scale = 100;
  for (size_t i = 2; i < s.size(); ++i, scale /= 10) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    frac += (s[i] - '0') * scale;
  }
  if (whole == 1 && frac != 0) return std::nullopt;
  return whole * 1000 + frac;
}

// What the client said, in thousandths; -1 where it said nothing.
struct Weights {
  std::array<int, kCodings> q{-1, -1, -1, -1};
  int star = -1;
};

// One list element, without its comma: `token [ OWS ";" OWS "q=" qvalue ]`
// with OWS around it. Records the weight of a known coding or "*" unless an
// earlier element already named it; skips malformed elements.
void apply_element(std::string_view e, Weights& w) {
  size_t i = 0;
  skip_ows(e, i);
  size_t tok_start = i;
  while (i < e.size() && is_tchar(e[i])) ++i;
  std::string_view tok = e.substr(tok_start, i - tok_start);
  if (tok.empty()) return;   // empty element (allowed, section 5.6.1) or malformed
  skip_ows(e, i);
  int q = 1000;
  if (i < e.size()) {
    if (e[i] != ';') return;
    ++i;
    skip_ows(e, i);
    if (e.size() - i < 2 || lower(e[i]) != 'q' || e[i + 1] != '=') return;
    i += 2;
    size_t q_start = i;
    while (i < e.size() && !is_ows(e[i])) ++i;
    std::optional<int> parsed = parse_qvalue(e.substr(q_start, i - q_start));
    if (!parsed) return;
    skip_ows(e, i);
    if (i != e.size()) return;   // another parameter, or junk after the weight
    q = *parsed;
  }
  int* slot = nullptr;
  if (tok == "*") {
    slot = &w.star;
  } else if (std::optional<Coding> c = parse_coding(tok)) {
    slot = &w.q[static_cast<size_t>(*c)];
  }
  if (slot && *slot < 0) *slot = q;
}

// Splits one field line at commas outside quoted strings: no coding takes a
// quoted parameter, but a comma inside one must not start a new element
// (`gzip;x="a, br"` names no br). The element holding the quote is malformed
// and skipped.
void scan_line(std::string_view line, Weights& w) {
  size_t i = 0;
  while (i <= line.size()) {
    size_t start = i;
    i = http::list_element_end(line, i);
    apply_element(line.substr(start, i - start), w);
    ++i;
  }
}

}  // namespace

std::string_view token(Coding c) { return kTokens[static_cast<size_t>(c)]; }

std::optional<Coding> parse_coding(std::string_view s) {
  for (size_t i = 0; i < kCodings; ++i) {
    if (iequals(s, kTokens[i])) return static_cast<Coding>(i);
  }
  if (iequals(s, "x-gzip")) return Coding::gzip;
  return std::nullopt;
}

Negotiated negotiate(std::span<const std::string_view> lines, std::span<const Coding> offered) {
  if (lines.empty()) return {Coding::identity, true};
  Weights w;
  for (std::string_view line : lines) scan_line(line, w);

  // Weight of each coding as the client meant it; identity left unlisted
  // (and not covered by "*") is acceptable with rank 0, below any listed q.
  auto weight = [&](Coding c) -> int {
    int q = w.q[static_cast<size_t>(c)];
    if (q >= 0) return q;
    if (w.star >= 0) return w.star;
    return c == Coding::identity ? 0 : -1;
  };
  auto acceptable = [&](Coding c) {
    int q = weight(c);
    return q > 0 || (q == 0 && c == Coding::identity && w.q[0] < 0 && w.star < 0);
  };

  Negotiated n{Coding::identity, acceptable(Coding::identity)};
  int best = -1;
  for (Coding c : offered) {
    if (!acceptable(c)) continue;
    int q = weight(c);
    if (q > best) {   // strictly greater: a tie keeps the server's earlier choice
      best = q;
      n.coding = c;
    }
  }
  return n;
}

}  // namespace gh::coding
