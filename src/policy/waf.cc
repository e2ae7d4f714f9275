// waf: each request through a ModSecurity transaction (libmodsecurity3)
// over the rules compiled at load (config/waf_rules.h): its connection,
// request line and fields (phase 1), then its body's first body_limit bytes
// (phase 2, where the CRS's anomaly score decides: rule 949110). The whole
// transaction runs at once, on the worker thread as nginx's connector does:
// in the request phase (the waf's place in the contract's order) for a
// request without content, in the request body phase for one with content. block: a disruptive verdict is
// answered (403, or the status the deciding rule names) with Proxy-Status
// details naming the rules; detect: the request goes on unchanged. Either
// way the access log gets the matched rule ids (Exchange::note).
#include <cstdlib>   // (intervention.h uses free and NULL without including them)

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rule_message.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/waf_rules.h"
#include "policy/kinds.h"

namespace gh::policy {
namespace {

// The one engine instance transactions need (it holds no rules; the sets do).
modsecurity::ModSecurity& engine() {
  static modsecurity::ModSecurity* m = [] {
    auto* e = new modsecurity::ModSecurity();   // (never freed: transactions may run until exit)
    e->setConnectorInformation("gatehouse");
    // Matches reach the access log as rule ids (from the transaction's
    // messages); ModSecurity's own text lines would go to stdout. Asking
    // for the message object rather than text spares formatting them.
    e->setServerLogCb([](void*, const void*) {}, modsecurity::RuleMessageLogProperty);
    return e;
  }();
  return *m;
}

// Per-thread scratch: ModSecurity takes C strings for the client address,
// the request-target, the method and the version.
struct Scratch {
  std::string client, uri, method;
  std::vector<int> ids;
};
thread_local Scratch scratch;

const char* version_text(int v) {
  switch (v) {
    case 10: return "1.0";
    case 20: return "2.0";
    default: return "1.1";
  }
}

class WafPolicy final : public Policy {
 public:
  explicit WafPolicy(const config::Waf& c)
      : rules_(c.rules), block_(c.mode == config::Waf::Mode::block), want_(c.body_limit + 1) {
    engine();
  }
  const char* name() const override { return "waf"; }
  // A request without content is decided in the request phase, in the
  // waf's place among the policies (before basic_auth, forward_auth, jwt);
  // one with content once its first bytes are here (the body phase).
  bool acts_on_request() const override { return true; }
  Verdict on_request(Exchange& ex) const override {
    return ex.request->has_content ? Verdict::next : inspect(ex, {});
  }
  // body_limit + 1: a body longer than the limit is known to be cut (see waf_directives).
  uint64_t request_body_wanted() const override { return want_; }
  Verdict on_request_body(Exchange& ex, std::string_view body, bool complete) const override {
    return ex.request->has_content ? inspect(ex, body) : Verdict::next;
  }

 private:
  // The whole transaction: phase 1 (connection, request line, fields),
  // then phase 2 over `body` (empty for a request without content).
  Verdict inspect(Exchange& ex, std::string_view body) const;

  std::shared_ptr<const config::WafRules> rules_;
  bool block_;
  uint64_t want_;
};

Verdict WafPolicy::inspect(Exchange& ex, std::string_view body) const {
  const http::RequestHead& rq = *ex.request;
  Scratch& s = scratch;
  modsecurity::Transaction t(&engine(), rules_->set.get(), nullptr);
  s.client.assign(ex.client_ip_str);
  s.uri.assign(rq.path);
  s.method.assign(rq.method);
  // (The server's own address is not the rules' business: CRS never reads it.)
  t.processConnection(s.client.c_str(), 0, "", 0);
  t.processURI(s.uri.c_str(), s.method.c_str(), version_text(rq.version));
  bool host = false;
  for (const http::Field& f : rq.fields) {
    host = host || http::iequals(f.name, "host");
    t.addRequestHeader(reinterpret_cast<const unsigned char*>(f.name.data()), f.name.size(),
                       reinterpret_cast<const unsigned char*>(f.value.data()), f.value.size());
  }
  if (!host && !rq.authority.empty()) {
    // HTTP/2 carries the host as :authority (RFC 9113 8.3.1); the rules
    // expect Host (CRS 920280 flags a request without one).
    static constexpr std::string_view kHost = "Host";
    t.addRequestHeader(reinterpret_cast<const unsigned char*>(kHost.data()), kHost.size(),
                       reinterpret_cast<const unsigned char*>(rq.authority.data()), rq.authority.size());
  }
  modsecurity::ModSecurityIntervention it;
  modsecurity::intervention::clean(&it);
  t.processRequestHeaders();
  bool disrupted = t.intervention(&it);
  if (!disrupted) {
    if (!body.empty())
      t.appendRequestBody(reinterpret_cast<const unsigned char*>(body.data()), body.size());
    t.processRequestBody();
    disrupted = t.intervention(&it);
  }
  // (A cut body shows itself to the rules by its length: body_limit + 1.)
  const int status = it.status;
  modsecurity::intervention::free(&it);

  // The rules that matched, in order, once each; the deciding one is the
  // disruptive one (for the CRS in anomaly scoring: 949110).
  s.ids.clear();
  int deciding = 0;
  for (const modsecurity::RuleMessage& m : t.m_rulesMessages) {
    if (m.m_ruleId <= 0) continue;
    if (m.m_isDisruptive) deciding = m.m_ruleId;
    if (std::find(s.ids.begin(), s.ids.end(), m.m_ruleId) == s.ids.end()) s.ids.push_back(m.m_ruleId);
  }
  if (s.ids.empty() && !disrupted) return Verdict::next;
  if (deciding == 0 && !s.ids.empty()) deciding = s.ids.back();
  ex.noted_by = "waf";
  ex.note.clear();
  for (int id : s.ids) {
    if (!ex.note.empty()) ex.note += ',';
    ex.note += std::to_string(id);
  }
  if (!disrupted || !block_) return Verdict::next;

  Answer a;
  a.status = status >= 400 && status <= 599 ? status : 403;
  a.details = "waf: denied by rule " + std::to_string(deciding);
  bool first = true;
  for (int id : s.ids) {
    if (id == deciding) continue;
    a.details += first ? "; matched " : " ";
    a.details += std::to_string(id);
    first = false;
  }
  ex.answer = std::move(a);
  return Verdict::answered;
}

}  // namespace

std::unique_ptr<Policy> make_waf(const config::Waf& conf) {
  return std::make_unique<WafPolicy>(conf);
}

}  // namespace gh::policy
