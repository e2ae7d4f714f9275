// headers.request / headers.response: fixed field edits. Within one
// direction: remove, then set (replacing every copy), then add. Framing and
// hop-by-hop fields were refused at load (config/policy_section.cc).
#include "policy/kinds.h"

namespace gh::policy {
namespace {

void collect(const config::FieldRules& r, FieldEdits& out) {
  for (const std::string& n : r.remove) out.remove(n);
  for (const auto& [n, v] : r.set) out.set(n, v);
  for (const auto& [n, v] : r.add) out.append(n, v);
}

class HeaderRules final : public Policy {
 public:
  explicit HeaderRules(const config::HeaderRules& r) : rules_(r) {}
  const char* name() const override { return "headers"; }
  void static_upstream_edits(FieldEdits& out) const override { collect(rules_.request, out); }
  void static_response_edits(FieldEdits& out) const override { collect(rules_.response, out); }

 private:
  config::HeaderRules rules_;
};

}  // namespace

std::unique_ptr<Policy> make_header_rules(const config::HeaderRules& rules) {
  return std::make_unique<HeaderRules>(rules);
}

}  // namespace gh::policy
