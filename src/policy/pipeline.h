// The policies one route (or the server, for requests no route matched) runs
// with, in the contract's order, built once per runtime snapshot from the
// route's effective configuration (config::effective_policies). Sessions of
// every protocol drive it through the phases of policy.h; adding a policy
// means a new file here and one line in pipeline.cc, nothing in a session.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "policy/cache.h"
#include "policy/compress.h"
#include "policy/policy.h"

namespace gh::policy {

class Pipeline {
 public:
  // Builds the policies `p` configures. Never fails: config loading has
  // already refused every bad value.
  explicit Pipeline(const config::Policies& p);
  Pipeline() : Pipeline(config::Policies{}) {}

  // Request phase: runs the policies in order until one answers. Returns
  // answered (ex.answer and ex.refused_by set) or next. Any policy may
  // suspend; the coroutine frame is only made for that case (see run_rest).
  Verdict run_request(Exchange& ex) const;
  // After run_request returned suspend: waits for that policy, then runs the
  // remaining ones. Returns next or answered.
  net::awaitable<Verdict> run_rest(Exchange& ex) const;

  // Request body phase (see policy.h): how many bytes of the request body
  // must be held before forwarding (0: none; no body phase), then the
  // verdict of the policies that look at them. Returns next or answered
  // (ex.answer and ex.refused_by set).
  uint64_t request_body_wanted() const { return body_wanted_; }
  Verdict run_request_body(Exchange& ex, std::string_view body, bool complete) const;

  // Edits for every upstream request / every response (fixed at load).
  const FieldEdits& upstream_edits() const { return up_edits_; }
  const FieldEdits& response_edits() const { return resp_edits_; }

  // Error phase: the page for `status`, or nullptr (keep the usual body).
  const Policy::Page* error_page(int status, bool from_backend) const;
  bool hides_backends() const { return hides_backends_; }
  // Whether any policy acts in the request phase or the request body phase
  // (else run_request is a no-op and the client address need not be worked out).
  bool acts_on_request() const { return !request_.empty() || body_wanted_ > 0; }
  bool intercepts_errors() const { return intercept_errors_; }
  // The compress policy, or nullptr when responses pass as they are.
  const CompressRule* compress() const { return compress_.get(); }
  // The cache policy, or nullptr when the route's responses are not cached.
  const CacheRule* cache() const { return cache_.get(); }

 private:
  std::vector<std::unique_ptr<Policy>> all_;
  std::vector<const Policy*> request_;        // acts_on_request(), in order
  std::vector<const Policy*> body_;           // request_body_wanted() > 0, in order
  uint64_t body_wanted_ = 0;
  FieldEdits up_edits_;
  FieldEdits resp_edits_;
  bool hides_backends_ = false;
  bool intercept_errors_ = false;
  std::unique_ptr<CompressRule> compress_;
  std::unique_ptr<CacheRule> cache_;
};

}  // namespace gh::policy
