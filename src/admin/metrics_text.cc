#include "admin/metrics_text.h"

#include <charconv>
#include <cmath>

namespace gh::admin {

void MetricsText::escape_label_value(std::string& out, std::string_view v) {
  if (v.find_first_of("\\\"\n") == std::string_view::npos) {
    out += v;   // the usual case: nothing to escape
    return;
  }
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void MetricsText::format_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricsText::begin(std::string_view name, std::span<const Label> labels, const Label* extra) {
  out_ += name;
  if (labels.empty() && !extra) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto one = [&](const Label& l) {
    if (!first) out_ += ',';
    first = false;
    out_ += l.first;
    out_ += "=\"";
    escape_label_value(out_, l.second);
    out_ += '"';
  };
  for (const Label& l : labels) one(l);
  if (extra) one(*extra);
  out_ += "} ";
}

static void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void MetricsText::sample(std::string_view name, std::span<const Label> labels, uint64_t value) {
  begin(name, labels);
  append_uint(out_, value);
  out_ += '\n';
}

void MetricsText::sample(std::string_view name, std::span<const Label> labels, int64_t value) {
  begin(name, labels);
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, r.ptr);
  out_ += '\n';
}

void MetricsText::sample(std::string_view name, std::span<const Label> labels, double value) {
  begin(name, labels);
  format_double(out_, value);
  out_ += '\n';
}

void MetricsText::histogram(std::string_view name, std::span<const Label> labels,
                            const core::HistogramTotals& h) {
  // The bounds as text, once.
  static const std::array<std::string, core::LocalHistogram::kBuckets> kLe = [] {
    std::array<std::string, core::LocalHistogram::kBuckets> a;
    for (size_t i = 0; i < core::kDurationBuckets.size(); ++i) format_double(a[i], core::kDurationBuckets[i]);
    a.back() = "+Inf";
    return a;
  }();
  std::string series(name);
  const size_t base = series.size();
  series += "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    const Label extra{"le", kLe[i]};
    begin(series, labels, &extra);
    append_uint(out_, cumulative);
    out_ += '\n';
  }
  series.resize(base);
  series += "_sum";
  sample(series, labels, static_cast<double>(h.sum_us) / 1e6);
  series.resize(base);
  series += "_count";
  sample(series, labels, cumulative);
}

}  // namespace gh::admin
