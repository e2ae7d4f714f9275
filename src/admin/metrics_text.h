// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): families
// with # HELP and # TYPE, samples with escaped label values, histograms as
// cumulative _bucket{le=...} series with +Inf, _sum and _count.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/local_counter.h"

namespace gh::admin {

// The Content-Type of a text format 0.0.4 answer.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;   // name, value (any bytes)

// Appends to a string. Names (metric and label) are the caller's and must
// already be valid Prometheus names; label values and help texts are
// escaped here (backslash, double quote and newline in values; backslash
// and newline in help).
class MetricsText {
 public:
  explicit MetricsText(std::string& out) : out_(out) {}

  // Starts a family: "# HELP name help" and "# TYPE name type", type being
  // "counter", "gauge", "histogram" (or "untyped"). Every sample of the
  // family must follow before the next family starts.
  void family(std::string_view name, std::string_view type, std::string_view help);

  // One sample line: name{labels} value. Integers print exactly.
  void sample(std::string_view name, std::span<const Label> labels, uint64_t value);
  void sample(std::string_view name, std::span<const Label> labels, int64_t value);
  // Doubles print in the shortest form that reads back the same; NaN and
  // infinities as "NaN", "+Inf", "-Inf".
  void sample(std::string_view name, std::span<const Label> labels, double value);

  // A histogram's series under `name` (the family's name): name_bucket
  // with le for each bound of core::kDurationBuckets and +Inf (cumulative),
  // name_sum in seconds and name_count.
  void histogram(std::string_view name, std::span<const Label> labels,
                 const core::HistogramTotals& h);

  // Label value escaping: \ -> \\, " -> \", newline -> \n.
  static void escape_label_value(std::string& out, std::string_view v);
  // A double as the format writes it.
  static void format_double(std::string& out, double v);

 private:
  void begin(std::string_view name, std::span<const Label> labels, const Label* extra = nullptr);
  std::string& out_;
};

}  // namespace gh::admin
