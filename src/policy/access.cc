// access: allow/deny by the client's address as gatehouse determined it
// (the peer, or the client a trusted proxy names). deny wins; a non-empty
// allow admits only its blocks. Refusal: 403 http_request_denied.
#include "policy/kinds.h"

namespace gh::policy {
namespace {

class Access final : public Policy {
 public:
  explicit Access(const config::AccessRules& r) : rules_(r) {}
  const char* name() const override { return "access"; }
  bool acts_on_request() const override { return true; }
  Verdict on_request(Exchange& ex) const override;

 private:
  config::AccessRules rules_;
};

Verdict Access::on_request(Exchange& ex) const {
  const char* why = nullptr;
  for (const auto& c : rules_.deny)
    if (c.contains(ex.client_ip)) why = " is denied";
  if (!why && !rules_.allow.empty()) {
    bool in = false;
    for (const auto& c : rules_.allow) in = in || c.contains(ex.client_ip);
    if (!in) why = " is not in the allow list";
  }
  if (!why) return Verdict::next;
  Answer a;
  a.status = 403;
  a.details = "access: ";
  a.details += ex.client_ip_str;
  a.details += why;
  ex.answer = std::move(a);
  return Verdict::answered;
}

}  // namespace

std::unique_ptr<Policy> make_access(const config::AccessRules& rules) {
  return std::make_unique<Access>(rules);
}

}  // namespace gh::policy
