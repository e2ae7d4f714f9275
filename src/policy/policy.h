// A policy is one rule a request meets on its way through gatehouse (access
// lists, authentication, header rules, error pages ...). Policies see only
// the protocol-neutral exchange (http/exchange.h), never a codec or a
// socket, so HTTP/1 and HTTP/2 sessions run the same ones.
//
// The phases, in the order a request meets them (docs/architecture.md):
//   request        after routing: a policy may let the request go on, answer
//                  it itself (deny, challenge, redirect), or ask for field
//                  edits on the upstream request. Policies run here in the
//                  contract's order (access, rate_limit, waf, basic_auth,
//                  forward_auth, jwt, cache, headers.request).
//   request body   for policies that inspect the body (waf): once the request
//                  phase let the request on, its body's first bytes (as
//                  many as the pipeline's policies want, all of it when it
//                  is that short) are held before anything goes upstream;
//                  a policy may still answer. Then the held bytes go
//                  upstream, followed by the rest of the body.
//   upstream       the upstream request head is written with the edits the
//                  pipeline holds (static ones fixed at load, plus those the
//                  request phase added for this request).
//   response_head  the response head (the backend's or our own) is written
//                  with the pipeline's response edits (Server, obfuscation,
//                  headers.response).
//   error          a 4xx/5xx about to be sent may get a page as its body.
//   log            the access log names the policy that refused a request.
#pragma once

#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cidr.h"
#include "http/exchange.h"
#include "net/asio.h"

namespace gh::policy {

// Edits to one field section: names to drop and field lines to append.
// Names are compared case-insensitively. Views point into the policy's own
// configuration (alive for the runtime snapshot) or into owned storage.
class FieldEdits {
 public:
  // Drops every field named `name` (the client's, the backend's, and any
  // gatehouse would generate, such as X-Forwarded-For).
  void remove(std::string_view name);
  // Appends a field line; `value` must outlive the edits.
  void append(std::string_view name, std::string_view value);
  // Same, keeping its own copy of the value.
  void append_copy(std::string_view name, std::string value);
  // remove(name) then append(name, value).
  void set(std::string_view name, std::string_view value) {
    remove(name);
    append(name, value);
  }
  bool drops(std::string_view name) const;
  const std::vector<http::Field>& added() const { return added_; }
  bool empty() const { return removed_.empty() && added_.empty(); }
  void clear();

 private:
  std::vector<std::string_view> removed_;
  std::vector<http::Field> added_;
  // Values of append_copy; a list so that views stay valid, and (unlike a
  // deque) free when empty: every session holds two of these.
  std::forward_list<std::string> owned_;
};

// A response a policy makes itself instead of forwarding the request.
struct Answer {
  int status = 403;
  const char* error = "http_request_denied";   // RFC 9209 Proxy-Status error type
  std::string details;                         // "access: 10.0.0.5 is denied"
  std::vector<std::pair<std::string, std::string>> fields;   // e.g. WWW-Authenticate
  // A response relayed as another server made it (forward_auth's non-2xx
  // answer): when set, this body goes to the client with `content_type`
  // (no Content-Type when empty) instead of gatehouse's own text or error
  // page; Proxy-Status still names the refusal.
  std::optional<std::string> body;
  std::string content_type;
};

// Where the Answer of the policy that answered is kept: allocated only
// then. Most requests never need its ~150 bytes, and every session holds an
// Exchange, a slow or idle one too (memory per connection is a figure we
// hold to: tests/e2e/test_tls_idle.py).
class AnswerSlot {
 public:
  AnswerSlot& operator=(Answer&& a) {
    p_ = std::make_unique<Answer>(std::move(a));
    return *this;
  }
  explicit operator bool() const { return p_ != nullptr; }
  Answer& operator*() const { return *p_; }
  Answer* operator->() const { return p_.get(); }
  void reset() { p_.reset(); }

 private:
  std::unique_ptr<Answer> p_;
};

// One request's state as the policies see it.
struct Exchange {
  const http::RequestHead* request = nullptr;
  core::Ip16 client_ip{};          // as gatehouse determined it (trusted proxies honoured)
  std::string_view client_ip_str;
  int64_t now_ms = 0;              // steady clock
  FieldEdits upstream;             // request phase: edits of this request's upstream head
  FieldEdits downstream;           // request phase: edits of this request's response head
  AnswerSlot answer;               // set by the policy that answered
  const char* refused_by = "";     // its name, for the access log
  // What one policy has to say in the access log whether or not it refused
  // (the waf's matched rule ids): logged under the policy's name.
  const char* noted_by = "";
  std::string note;
  size_t at = 0;                   // the pipeline's place in the request phase
  std::string pending;             // a suspended policy's state, for its resume()

  // Ready for the next request on the same connection.
  void reset() {
    request = nullptr;
    upstream.clear();
    downstream.clear();
    answer.reset();
    refused_by = "";
    noted_by = "";
    note.clear();
    at = 0;
    pending.clear();
  }
};

enum class Verdict : uint8_t {
  next,       // go on to the next policy
  answered,   // ex.answer is set: send it, do not forward
  suspend,    // the policy needs to wait: co_await resume(ex) for the verdict
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The contract's name ("access", "basic_auth"), used in Proxy-Status
  // details and the access log.
  virtual const char* name() const = 0;

  // Request phase. Must not block: a policy that needs to wait (a password
  // hash, a sub-request) returns suspend and does the waiting in resume.
  // Policies are shared by every worker thread: per-worker state (caches)
  // lives in thread_local storage, never in a mutable member.
  virtual Verdict on_request(Exchange& ex) const { return Verdict::next; }
  // Called only after on_request returned suspend; returns next or answered.
  virtual net::awaitable<Verdict> resume(Exchange& ex) const { co_return Verdict::next; }
  // Whether on_request does anything (a policy acting only in other phases
  // says false, so the request phase skips it).
  virtual bool acts_on_request() const { return false; }

  // Request body phase: how many bytes of the request body this policy
  // must see before the request is forwarded (0: it does not look at
  // bodies). Sessions hold at most the largest count of a route's policies.
  virtual uint64_t request_body_wanted() const { return 0; }
  // Called once per request when request_body_wanted() > 0, after the
  // request phase let the request on (also for requests without a body:
  // `body` is then empty). `body` holds the body's first bytes, at most the
  // count wanted; `complete`: that is all of it. Must not block. Returns
  // next or answered (ex.answer set).
  virtual Verdict on_request_body(Exchange& ex, std::string_view body, bool complete) const {
    return Verdict::next;
  }

  // Edits this policy makes to every upstream request / every response of
  // its routes, fixed at load: collected once into the pipeline, so they
  // cost nothing per request beyond applying them.
  virtual void static_upstream_edits(FieldEdits& out) const {}
  virtual void static_response_edits(FieldEdits& out) const {}

  // Error phase: a body to send instead of the usual one for `status`, or
  // nullptr. `from_backend`: the backend's own error (not one of ours).
  struct Page {
    std::string_view content_type;
    std::string_view body;
  };
  virtual const Page* error_page(int status, bool from_backend) const { return nullptr; }

  // Whether next-hop names and backend addresses must stay out of what
  // clients see (obfuscate).
  virtual bool hides_backends() const { return false; }
};

}  // namespace gh::policy
