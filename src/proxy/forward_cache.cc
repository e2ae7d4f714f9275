// The response cache on the forward path (docs/caching.md): a request on a
// cached route is answered from the route's store when RFC 9111 allows,
// else it goes upstream (revalidating what is stored, or as one fetch that
// concurrent misses wait for) and the response is stored as it is relayed.
// The rules themselves are in cache/ (pure); the store and the table of
// fetches in policy/cache.h; this file decides which applies and moves the
// bytes.
#include <algorithm>

#include "cache/http_date.h"
#include "cache/key.h"
#include "cache/range.h"
#include "core/log.h"
#include "http/connection_tokens.h"
#include "proxy/cache_refresh.h"
#include "proxy/forward.h"

namespace gh::proxy {

using namespace gh::net;

namespace {

int64_t unix_now() { return unix_ms() / 1000; }

cache::Stored stored_of(const cache::Entry& e) {
  cache::Stored s;
  s.status = e.status;
  s.fields = e.field_views();
  s.request_time = e.request_time;
  s.response_time = e.response_time;
  return s;
}

// Beyond section 3.1's rule (cache::stored_field): the framing (the store
// knows the body's length and the client gets its own framing) and the
// request id (each client gets its own).
bool kept_in_store(std::string_view name) {
  return cache::stored_field(name) && !http::iequals(name, "content-length") &&
         !http::iequals(name, "x-request-id");
}

// RFC 9110 15.4.5: what a 304 carries of the stored response.
bool kept_in_304(std::string_view name) {
  for (std::string_view n : {"cache-control", "content-location", "date", "etag", "expires",
                             "last-modified", "vary"})
    if (http::iequals(name, n)) return true;
  return false;
}

// The request's own conditional fields, replaced by the store's validators
// when revalidating (section 4.3.1: the client's are about its own copy).
constexpr std::string_view kConditionals[] = {"if-none-match", "if-modified-since", "if-match",
                                              "if-unmodified-since", "if-range"};

}  // namespace

void Forwarder::cache_finish_fill(bool stored) { cx_.finish_fill(stored); }

awaitable<bool> Forwarder::forward_cached(const policy::CacheRule& rule) {
  ForwardRequest& req = *req_;
  const http::RequestHead& head = *req.head;
  const bool get = head.method == "GET";
  const bool is_head = head.method == "HEAD";
  // (A protocol switch is a tunnel, never a stored response.)
  if ((!get && !is_head) || req.body.kind != RequestBody::Kind::none || !req.upgrade.empty() ||
      req.upgrade_required) {
    // Not answered from the store. An unsafe method's success invalidates
    // (cache_on_head), so its target is kept.
    cx_.fwd = get || is_head ? "bypass" : "method";
    if (!cache::is_safe_method(head.method)) {
      cx_.target.assign(head.scheme);
      cx_.target += head.authority;
      cx_.target += head.path;
      cx_.target += head.normalized;
      cx_.scheme_len = head.scheme.size();
      cx_.authority_len = head.authority.size();
      cx_.path_len = head.path.size();
    }
    const bool keep = co_await forward_upstream();
    cx_.status_value();
    req.rec->cache = cx_.log_value();
    co_return keep;
  }
  const bool keep = co_await forward_filling(rule);
  cx_.end_flight();
  cache_finish_fill(false);   // (a fetch that stored nothing, or failed)
  cx_.status_value();
  req.rec->cache = cx_.log_value();
  co_return keep;
}

awaitable<bool> Forwarder::forward_filling(const policy::CacheRule& rule) {
  ForwardRequest& req = *req_;
  Downstream& down = *down_;
  const http::RequestHead& head = *req.head;
  const std::span<const http::Field> fields = head.fields;
  const RouteRuntime& rr = req.rt->routes[req.route_index];
  // (Keyed by the target as sent, which the backend gets: see cache/key.h.)
  cache::append_primary_key(cx_.key, head.scheme, head.authority, head.path);
  const int64_t now = unix_now();
  cx_.may_store = !req.is_head;

  bool vary_miss = false;
  cx_.entry = rule.store().lookup(cx_.key, fields, &vary_miss);
  bool may_wait = !req.is_head;   // (a HEAD's response is never stored: nothing to wait for)
  bool only_if_cached = false;
  if (cx_.entry) {
    cache::Decision d = cache::decide(stored_of(*cx_.entry), fields, now, rule.options());
    if (req.cache_refresh) {
      d.action = cache::Action::revalidate;
      d.fwd = "stale";
    }
    switch (d.action) {
      case cache::Action::serve:
        cx_.hit = true;
        cx_.has_ttl = true;
        cx_.ttl = d.lifetime - d.age;
        co_return co_await serve_stored(rr, false);
      case cache::Action::serve_then_revalidate:
        cx_.hit = true;
        cx_.has_ttl = true;
        cx_.ttl = d.lifetime - d.age;
        cx_.detail = "stale-while-revalidate";
        start_cache_refresh();
        co_return co_await serve_stored(rr, false);
      case cache::Action::gateway_timeout:
        only_if_cached = true;
        break;
      case cache::Action::revalidate:
        cx_.fwd = d.fwd == "request" ? "request" : "stale";
        // A request whose own directives asked for a fresh answer does not
        // take one fetched for someone else.
        if (d.fwd == "request") may_wait = false;
        if (!d.if_none_match.empty() || !d.if_modified_since.empty()) {
          cx_.revalidating = true;
          policy::FieldEdits& up = req.ex->upstream;
          for (std::string_view c : kConditionals) up.remove(c);
          // (Views into the stored entry, which cx_ holds until the end.)
          if (!d.if_none_match.empty()) up.append("If-None-Match", d.if_none_match);
          if (!d.if_modified_since.empty()) up.append("If-Modified-Since", d.if_modified_since);
        }
        break;
    }
  } else {
    cx_.fwd = vary_miss ? "vary-miss" : "miss";
    only_if_cached = cache::request_cache_control(fields).only_if_cached;
  }
  if (only_if_cached) {
    // RFC 9111 5.2.1.7: nothing stored may answer, and the client forbade
    // going upstream.
    cx_.fwd = "";
    cx_.detail = "only-if-cached";
    down.request_delivered();
    req.ex->downstream.append_copy("Cache-Status", std::string(cx_.status_value()));
    co_await down.send_error(504, "destination_unavailable",
                             "only-if-cached, and no stored response may be used", {});
    co_return down.keeps_connection();
  }
  if (!cx_.entry && http::find_field(fields, "range").size() > 0) {
    // A part of something not stored: forwarded as it is (a 200 the
    // backend sends in full is still stored).
    cx_.fwd = "bypass";
    may_wait = false;
  }
  if (req.cache_refresh) {
    std::shared_ptr<policy::CacheRule::Fill> fill;
    if (rule.join(cx_.key, now_ms(), fill) != policy::CacheRule::Join::lead) co_return false;
    cx_.fill = std::move(fill);
  } else if (may_wait) {
    std::shared_ptr<policy::CacheRule::Fill> fill;
    const policy::CacheRule::Join j = rule.join(cx_.key, now_ms(), fill);
    if (j == policy::CacheRule::Join::lead) {
      cx_.fill = std::move(fill);
    } else if (j == policy::CacheRule::Join::wait) {
      const bool served = co_await wait_for_fill(rule, fill);
      if (served || client_gone_) co_return served && down.keeps_connection();
    }
  }
  cx_.request_time = unix_now();
  if (cx_.may_store) cx_.flight = rule.begin_flight(cx_.key);
  co_return co_await forward_upstream();
}

// Waits for the fetch another request leads, then answers from the store
// when it stored something usable. False: go upstream (the fetch stored
// nothing, timed out, or what it stored does not suit this request) or the
// client is gone (client_gone_).
awaitable<bool> Forwarder::wait_for_fill(const policy::CacheRule& rule,
                                         std::shared_ptr<policy::CacheRule::Fill> fill) {
  ForwardRequest& req = *req_;
  const RouteRuntime& rr = req.rt->routes[req.route_index];
  fill_wait_ = std::make_shared<asio::steady_timer>(ex_);
  // At most kFillWait (nginx's proxy_cache_lock_timeout), so a slow or
  // large first fetch does not hold every other client for long.
  fill_wait_->expires_after(std::min<std::chrono::milliseconds>(
      req.rt->cfg.server.timeouts.upstream_response, policy::CacheRule::kFillWait));
  if (fill->add_waiter(ex_, fill_wait_)) co_await fill_wait_->async_wait(nothrow);
  fill_wait_.reset();
  if (client_gone_) {
    req.rec->status = 499;
    down_->close_after_response();
    co_return false;
  }
  if (!fill->stored()) co_return false;
  const std::span<const http::Field> fields = req.head->fields;
  bool vary_miss = false;
  std::shared_ptr<const cache::Entry> e = rule.store().lookup(cx_.key, fields, &vary_miss);
  if (!e) co_return false;
  const cache::Decision d = cache::decide(stored_of(*e), fields, unix_now(), rule.options());
  if (d.action != cache::Action::serve) co_return false;
  cx_.entry = std::move(e);
  cx_.fwd = "";
  cx_.hit = true;
  cx_.has_ttl = true;
  cx_.ttl = d.lifetime - d.age;
  cx_.detail = "collapsed";
  co_return co_await serve_stored(rr, false);
}

bool Forwarder::cache_on_head(int status, std::span<const http::Field> fields,
                              std::optional<uint64_t> length) {
  ForwardRequest& req = *req_;
  const policy::CacheRule& rule = *cx_.rule;
  cx_.fwd_status = status;
  const int64_t now = unix_now();
  if (!cx_.target.empty()) {
    // RFC 9111 4.4: an unsafe method's success invalidates its target and
    // the same-origin Location / Content-Location, in every route's store.
    // The target as sent and in its normal form (a write to "/a//b" is a
    // write to "/a/b" for a backend that normalizes: both keys go).
    const std::string_view t = cx_.target;
    const std::string_view scheme = t.substr(0, cx_.scheme_len);
    const std::string_view authority = t.substr(cx_.scheme_len, cx_.authority_len);
    const std::string_view raw = t.substr(cx_.scheme_len + cx_.authority_len, cx_.path_len);
    const std::string_view normal = t.substr(cx_.scheme_len + cx_.authority_len + cx_.path_len);
    std::vector<std::string> keys =
        cache::invalidation_keys(method_, scheme, authority, raw, status, fields);
    if (!keys.empty() && normal != raw) keys.push_back(cache::primary_key(scheme, authority, normal));
    for (const std::string& k : keys) {
      for (const RouteRuntime& r : req.rt->routes) {
        if (const policy::CacheRule* c = r.pipeline->cache()) {
          c->invalidate(k);      // fetches of it in flight store nothing; nobody waits for them
          c->store().erase(k);
        }
      }
    }
    return false;
  }
  // (HEAD responses are not stored, nor those of a GET with a body or an
  // upgrade: only what forward_filling sent.)
  if (!cx_.may_store || method_ != "GET") return false;
  const std::span<const http::Field> req_fields = req.head->fields;
  if (cx_.revalidating && status == 304 &&
      !cache::not_modified_selects(cx_.entry->field_views(), fields)) {
    // Section 4.3.4: a 304 about another representation updates nothing;
    // the client, which sent no conditional of its own, gets the stored
    // response as it is (a 304 would answer a question it never asked).
    cx_.detail = "304-mismatch";
    return true;
  }
  if (cx_.revalidating && status == 304) {
    // Section 4.3.4: still valid; the 304's fields update the stored ones.
    const cache::Entry& old = *cx_.entry;
    auto e = std::make_unique<cache::Entry>();
    e->primary_key = old.primary_key;
    e->secondary_key = old.secondary_key;
    e->status = old.status;
    e->fields = cache::merge_not_modified(old.field_views(), fields);
    e->body = old.body;
    e->request_time = cx_.request_time;
    e->response_time = now;
    e->origin = old.origin;
    e->seal();
    std::shared_ptr<const cache::Entry> updated(std::move(e));
    cx_.stored = (!cx_.flight || !cx_.flight->voided()) && rule.store().insert(updated);
    cx_.entry = std::move(updated);
    cache_finish_fill(cx_.stored);
    return true;
  }
  if (cx_.entry && (status == 500 || status == 502 || status == 503 || status == 504) &&
      cache::serve_stale_on_error(stored_of(*cx_.entry), req_fields, status, now, rule.options())) {
    cx_.detail = "stale-if-error";
    return true;
  }
  bool has_te = false;
  const std::string_view te = http::find_field(fields, "transfer-encoding", &has_te);
  if (has_te && !http::iequals(te, "chunked")) {
    // Another transfer coding stays applied to the bytes relayed; the store
    // keeps no Transfer-Encoding, so it must not keep such bytes either.
    cx_.detail = "transfer-coding";
    return false;
  }
  const cache::Storability st =
      cache::check_storable("GET", req_fields, status, fields, now, rule.options());
  if (st != cache::Storability::storable) {
    cx_.detail = cache::storability_text(st);
    return false;
  }
  if (length && *length > rule.max_object()) {
    cx_.detail = "too-large";
    return false;
  }
  auto e = std::make_unique<cache::Entry>();
  e->primary_key = cx_.key;
  if (!cache::vary_unmatchable(fields)) cache::append_secondary_key(e->secondary_key, fields, req_fields);
  e->status = status;
  bool has_date = false;
  e->fields.reserve(fields.size() + 1);
  const http::ConnectionTokens conn = http::ConnectionTokens::of(fields);
  for (const http::Field& f : fields) {
    if (!kept_in_store(f.name) || (conn.n && conn.has(f.name))) continue;
    has_date = has_date || http::iequals(f.name, "date");
    e->fields.push_back(cache::OwnedField{std::string(f.name), std::string(f.value)});
  }
  if (!has_date) {
    // RFC 9110 6.6.1: the Date a recipient adds is the response's time, and
    // every later client must see that one, not its own time.
    cache::OwnedField d{"Date", {}};
    cache::append_http_date(d.value, now);
    e->fields.push_back(std::move(d));
  }
  e->request_time = cx_.request_time ? cx_.request_time : now;
  e->response_time = now;
  e->origin = 0;
  if (backend_)
    for (size_t i = 0; i < req.rt->routes[req.route_index].backends.size(); ++i)
      if (req.rt->routes[req.route_index].backends[i] == backend_) e->origin = static_cast<uint32_t>(i);
  if (length) e->body.reserve(static_cast<size_t>(*length));
  cx_.pending = std::move(e);
  cx_.storing = true;
  cx_.stored = true;
  if (length && *length == 0) cx_.commit_pending();   // (no body to tee: whole already)
  return false;
}

void Forwarder::cache_commit(const http::RelayOutcome& o) {
  // (The tee stores a whole body at its end; what is pending here is a body
  // the relay did not finish: dropped.)
  if (cx_.pending) {
    cx_.pending.reset();
    cx_.storing = false;
    cx_.stored = false;
  }
  (void)o;
  cx_.finish_fill(false);
}

awaitable<bool> Forwarder::serve_stored(const RouteRuntime& rr, bool delivered) {
  ForwardRequest& req = *req_;
  Downstream& down = *down_;
  LogRecord& rec = *req.rec;
  const std::shared_ptr<const cache::Entry> hold = cx_.entry;   // (alive while it is sent)
  const cache::Entry& e = *hold;
  const std::span<const http::Field> stored = e.field_views();
  const cache::Stored s = stored_of(e);
  cx_.serving = true;
  cx_.age = cache::current_age(s, unix_now());
  if (!cx_.has_ttl) {
    cx_.has_ttl = true;
    cx_.ttl = cache::freshness_lifetime(s, cx_.rule->options()) - cx_.age;
  }
  if (!delivered) down.request_delivered();
  if (req.cache_refresh) {   // (a background revalidation: nobody to answer)
    req.rec->status = cx_.fwd_status ? cx_.fwd_status : e.status;
    co_return false;
  }

  const std::span<const http::Field> rf = req.head->fields;
  int status = e.status;
  std::string_view body = e.body;
  bool head_only = req.is_head;
  ResponseFraming fr;
  fr.length = ResponseFraming::Length::known;
  std::optional<uint64_t> length;
  serve_fields_.clear();
  if (status / 100 == 2 && cache::client_not_modified(rf, s)) {
    // Section 4.3.2: the client's copy is current.
    status = 304;
    head_only = true;
    fr.length = ResponseFraming::Length::none;
    // RFC 9110 15.4.5: the 304 carries the ETag and Vary this client's 200
    // would have: weak and with Accept-Encoding when compression applies.
    policy::CompressChoice as_200;
    if (const policy::CompressRule* cr = req.pipeline->compress())
      as_200 = cr->choose(false, e.status, rf, stored, e.body.size());
    const bool coded = as_200.coding != coding::Coding::identity;
    bool vary_done = !as_200.vary;
    for (const http::Field& f : stored) {
      if (!kept_in_304(f.name)) continue;
      if (coded && http::iequals(f.name, "etag") && !f.value.starts_with("W/")) {
        serve_etag_.assign("W/");
        serve_etag_ += f.value;
        serve_fields_.push_back(http::Field{f.name, serve_etag_});
        continue;
      }
      if (!vary_done && http::iequals(f.name, "vary")) {
        vary_done = true;
        if (policy::CompressRule::vary_with_accept_encoding(f.value, serve_vary_)) {
          serve_fields_.push_back(http::Field{f.name, serve_vary_});
          continue;
        }
      }
      serve_fields_.push_back(f);
    }
    if (!vary_done) serve_fields_.push_back(http::Field{"Vary", "Accept-Encoding"});
  } else {
    serve_fields_.assign(stored.begin(), stored.end());
    bool has_range = false;
    const std::string_view range = http::find_field(rf, "range", &has_range);
    if (has_range && status == 200 && !req.is_head && cache::if_range_holds(rf, stored)) {
      const cache::ByteRange br = cache::parse_range(range, body.size());
      if (br.kind == cache::ByteRange::Kind::satisfiable) {
        status = 206;
        serve_range_ = "bytes " + std::to_string(br.first) + "-" + std::to_string(br.last) + "/" +
                       std::to_string(body.size());
        body = body.substr(static_cast<size_t>(br.first), static_cast<size_t>(br.last - br.first + 1));
        serve_fields_.push_back(http::Field{"Content-Range", serve_range_});
      } else if (br.kind == cache::ByteRange::Kind::unsatisfiable) {
        status = 416;
        serve_range_ = "bytes */" + std::to_string(body.size());
        body = {};
        serve_fields_.push_back(http::Field{"Content-Range", serve_range_});
      }
    }
    serve_len_ = std::to_string(body.size());
    serve_fields_.push_back(http::Field{"Content-Length", serve_len_});
    length = body.size();
    if (head_only) fr.length = ResponseFraming::Length::none;
  }
  const size_t origin = std::min<size_t>(e.origin, rr.backends.size() - 1);
  http::BodySink& sink =
      begin_downstream_response(rr, *rr.backends[origin], status, {}, fr, serve_fields_, length);
  rec.status = status;
  // In pieces of 256 KiB, so a large stored body meets the client's pace
  // (and HTTP/2 flow control) as a relayed one does.
  constexpr size_t kPiece = 256 * 1024;
  http::RelayOutcome o;
  size_t off = 0;
  for (;;) {
    http::BodyBatch batch;
    if (!head_only) batch.add(body.substr(off, kPiece));
    off += batch.payload;
    batch.end = head_only || off >= body.size();
    const bool ok = co_await sink.write(batch);
    o.wrote = true;
    if (!ok) {
      o.status = http::RelayStatus::dst_error;
      break;
    }
    o.bytes += batch.payload;
    if (batch.end) break;
  }
  rec.bytes_sent = end_downstream_body(o);
  if (o.status != http::RelayStatus::done) {
    down.close_after_response();
    co_return false;
  }
  co_return down.keeps_connection();
}

awaitable<bool> Forwarder::cache_failed(const Failure& f, std::string_view hop) {
  ForwardRequest& req = *req_;
  Downstream& down = *down_;
  if (cx_.entry && !req.cache_refresh &&
      cache::serve_stale_on_error(stored_of(*cx_.entry), req.head->fields, 0, unix_now(),
                                  cx_.rule->options())) {
    // RFC 5861 4: the backend cannot answer; the stale response may.
    cache_finish_fill(false);
    cx_.detail = "stale-if-error";
    GH_INFO("cache: %s: serving a stale response (%s)", cx_.key.c_str(), f.error);
    co_return co_await serve_stored(req.rt->routes[req.route_index], true);
  }
  cache_finish_fill(false);
  req.ex->downstream.append_copy("Cache-Status", std::string(cx_.status_value()));
  co_await down.send_error(f.status, f.error, f.details, hop);
  co_return down.keeps_connection();
}

void Forwarder::start_cache_refresh() {
  // (Only with the snapshot this request runs on still current: the
  // background request must not outlive the routes it points into.)
  const std::shared_ptr<const Runtime>& rt = ws_.runtime();
  if (rt.get() != req_->rt) return;
  CacheRefresh::start(ws_, ex_, rt, *req_);
}

}  // namespace gh::proxy
