#include "acme/problem.h"

namespace gh::acme {

namespace {

std::string str_member(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return {};
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

nlohmann::json parse(std::string_view body) {
  return nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
}

}  // namespace

std::string printable(std::string_view text, size_t max) {
  // Trailing line ends and spaces go (pebble ends some details with "\n").
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  std::string out;
  const size_t n = std::min(text.size(), max);
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  if (text.size() > max) out += "...";
  return out;
}

std::string describe_problem(std::string_view step, const nlohmann::json& problem) {
  std::string out(step);
  const std::string type = str_member(problem, "type");
  const std::string detail = str_member(problem, "detail");
  out += ": " + (type.empty() ? std::string("(no type)") : printable(type));
  if (!detail.empty()) out += ": " + printable(detail, 500);
  if (problem.is_object() && problem.contains("subproblems") && problem["subproblems"].is_array()) {
    size_t shown = 0;
    for (const auto& sub : problem["subproblems"]) {
      if (++shown > 10) {
        out += "; ...";
        break;
      }
      std::string who;
      if (sub.is_object() && sub.contains("identifier")) who = str_member(sub["identifier"], "value");
      out += "; " + (who.empty() ? std::string("subproblem") : printable(who)) + ": " +
             printable(str_member(sub, "type"));
      const std::string d = str_member(sub, "detail");
      if (!d.empty()) out += ": " + printable(d, 300);
    }
  }
  return out;
}

std::string describe_problem(std::string_view step, long status, std::string_view body) {
  const nlohmann::json j = parse(body);
  if (!str_member(j, "type").empty()) return describe_problem(step, j);
  std::string out(step);
  out += ": HTTP " + std::to_string(status);
  if (!body.empty()) out += ": " + printable(body);
  return out;
}

std::string problem_type(std::string_view body) {
  return str_member(parse(body), "type");
}

}  // namespace gh::acme
