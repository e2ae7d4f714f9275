#include "proxy/cache_exchange.h"

#include "net/deadlines.h"

namespace gh::proxy {

void CacheExchange::reset(const policy::CacheRule* r) {
  rule = r;
  key.clear();
  entry.reset();
  fill.reset();
  hit = false;
  fwd = "";
  fwd_status = 0;
  stored = false;
  has_ttl = false;
  ttl = 0;
  detail = "";
  may_store = false;
  serving = false;
  age = 0;
  revalidating = false;
  request_time = 0;
  storing = false;
  pending.reset();
  target.clear();
  scheme_len = authority_len = path_len = 0;
  flight.reset();
  value.clear();
}

std::string_view CacheExchange::status_value() {
  value.assign("gatehouse");
  if (hit) value += "; hit";
  if (*fwd) {
    value += "; fwd=";
    value += fwd;
    if (fwd_status) {
      value += "; fwd-status=";
      value += std::to_string(fwd_status);
    }
  }
  if (stored) value += "; stored";
  if (has_ttl) {
    value += "; ttl=";
    value += std::to_string(ttl);
  }
  if (*detail) {
    value += "; detail=";
    value += detail;
  }
  return value;
}

std::string_view CacheExchange::log_value() const {
  std::string_view v = value;
  constexpr std::string_view kName = "gatehouse; ";
  if (v.starts_with(kName)) v.remove_prefix(kName.size());
  return v;
}

bool CacheExchange::commit_pending() {
  if (!pending) return false;
  bool in = false;
  if (storing) {
    pending->seal();
    if (pending->body.capacity() > pending->body.size() + pending->body.size() / 8)
      pending->body.shrink_to_fit();   // (a chunked body grew by doubling: give the slack back)
    if (!flight || !flight->voided())
      in = rule->store().insert(std::shared_ptr<const cache::Entry>(std::move(pending)));
  }
  pending.reset();
  storing = false;
  stored = in;   // (the log tells what really happened)
  finish_fill(in);
  return in;
}

void CacheExchange::end_flight() {
  if (!flight) return;
  rule->end_flight(key, flight);
  flight.reset();
}

void CacheExchange::finish_fill(bool was_stored) {
  if (!fill) return;
  rule->finish(key, fill, was_stored, net::now_ms());
  fill.reset();
}

net::awaitable<bool> CacheTee::write(const http::BodyBatch& b) {
  if (cx_.storing && cx_.pending) {
    std::string& body = cx_.pending->body;
    if (body.size() + b.payload > max_) {
      cx_.storing = false;
      cx_.stored = false;
      cx_.pending.reset();
      cx_.detail = "too-large";
      cx_.finish_fill(false);   // (the waiters need not wait for the rest)
    } else {
      for (size_t i = 0; i < b.n; ++i) body.append(b.pieces[i]);
      if (b.end) cx_.commit_pending();
    }
  }
  co_return co_await inner_.write(b);
}

}  // namespace gh::proxy
