#include "policy/pipeline.h"

#include <algorithm>

#include "policy/kinds.h"

namespace gh::policy {

Pipeline::Pipeline(const config::Policies& p) {
  // The contract's order: access, rate_limit, waf, basic_auth, forward_auth,
  // jwt, cache, headers.request | backend | compress, headers.response,
  // error_pages. New policies take their place in this list.
  all_.push_back(make_response_identity(p.server_header.value_or("gatehouse"), p.obfuscate.value_or(false)));
  if (p.access) all_.push_back(make_access(*p.access));
  if (p.rate_limit) all_.push_back(make_rate_limit(*p.rate_limit));
  if (p.waf && p.waf->mode != config::Waf::Mode::off && p.waf->rules) all_.push_back(make_waf(*p.waf));
  if (p.basic_auth) all_.push_back(make_basic_auth(*p.basic_auth));
  if (p.forward_auth) all_.push_back(make_forward_auth(*p.forward_auth));
  if (p.jwt) all_.push_back(make_jwt(*p.jwt));
  if (p.cache && p.cache->enabled) cache_ = std::make_unique<CacheRule>(*p.cache);   // (before the backend)
  if (p.compress && p.compress->enabled && !p.compress->algorithms.empty())
    compress_ = std::make_unique<CompressRule>(*p.compress);   // (after the backend)
  if (p.headers) all_.push_back(make_header_rules(*p.headers));
  intercept_errors_ = p.intercept_errors.value_or(false);
  if (p.error_pages && !p.error_pages->empty())
    all_.push_back(make_error_pages(*p.error_pages, intercept_errors_));

  for (const auto& pol : all_) {
    if (pol->acts_on_request()) request_.push_back(pol.get());
    if (uint64_t n = pol->request_body_wanted()) {
      body_.push_back(pol.get());
      body_wanted_ = std::max(body_wanted_, n);
    }
    pol->static_upstream_edits(up_edits_);
    pol->static_response_edits(resp_edits_);
    hides_backends_ = hides_backends_ || pol->hides_backends();
  }
}

Verdict Pipeline::run_request(Exchange& ex) const {
  for (; ex.at < request_.size(); ++ex.at) {
    const Policy* p = request_[ex.at];
    Verdict v = p->on_request(ex);
    if (v == Verdict::next) continue;
    if (v == Verdict::answered) ex.refused_by = p->name();
    return v;
  }
  return Verdict::next;
}

net::awaitable<Verdict> Pipeline::run_rest(Exchange& ex) const {
  const Policy* p = request_[ex.at];
  Verdict v = co_await p->resume(ex);
  if (v == Verdict::answered) {
    ex.refused_by = p->name();
    co_return v;
  }
  ++ex.at;
  for (;;) {
    v = run_request(ex);
    if (v != Verdict::suspend) co_return v;
    p = request_[ex.at];
    v = co_await p->resume(ex);
    if (v == Verdict::answered) {
      ex.refused_by = p->name();
      co_return v;
    }
    ++ex.at;
  }
}

Verdict Pipeline::run_request_body(Exchange& ex, std::string_view body, bool complete) const {
  for (const Policy* p : body_) {
    const uint64_t want = p->request_body_wanted();
    // (A policy wanting fewer bytes than another sees only its own count.)
    const bool all = complete && body.size() <= want;
    Verdict v = p->on_request_body(ex, body.substr(0, static_cast<size_t>(std::min<uint64_t>(want, body.size()))), all);
    if (v == Verdict::answered) {
      ex.refused_by = p->name();
      return v;
    }
  }
  return Verdict::next;
}

const Policy::Page* Pipeline::error_page(int status, bool from_backend) const {
  if (status < 400) return nullptr;
  for (const auto& p : all_)
    if (const Policy::Page* page = p->error_page(status, from_backend)) return page;
  return nullptr;
}

}  // namespace gh::policy
