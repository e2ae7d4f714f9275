// The field rules of the forward path: the upstream request in HTTP/1.1
// (hop-by-hop fields out, forwarding fields in, framing re-stated) and the
// response's fields for the downstream, whatever its protocol (hop-by-hop
// out, Via and request id in, redirects and cookies mapped back). Both are
// always rebuilt from parsed fields, never copied as raw bytes.
#include <algorithm>
#include <array>
#include <string>

#include "http/connection_tokens.h"
#include "http/status.h"
#include "http/token.h"
#include "proxy/client_address.h"
#include "proxy/head_edits.h"
#include "proxy/rewrite.h"
#include "proxy/router.h"
#include "proxy/forward.h"

namespace gh::proxy {

namespace {

using http1::iequals;

using ConnTokens = http::ConnectionTokens;

// A field that no rule above claimed goes on, unless a Connection field
// named it hop-by-hop or a field rule removes it.
void pass_field(const http::Field& h, const ConnTokens& conn, const HeadEdits& edits,
                FieldWriter& w) {
  if (conn.n && conn.has(h.name)) return;
  if (edits.drops(h.name)) return;
  w.add(h.name, h.value);
}

enum class H {
  other, connection, keep_alive, proxy_connection, te, transfer_encoding, upgrade, host,
  content_length, x_request_id, via, xff, xf_proto, xf_host, xf_port, x_real_ip, forwarded,
  location, content_location, refresh, set_cookie, trailer, expect, date, traceparent, tracestate,
};

// Dispatch on length first: most header names are rejected by one compare.
H classify(std::string_view n) {
  switch (n.size()) {
    case 2: return iequals(n, "te") ? H::te : H::other;
    case 3: return iequals(n, "via") ? H::via : H::other;
    case 4: return iequals(n, "host") ? H::host : iequals(n, "date") ? H::date : H::other;
    case 6: return iequals(n, "expect") ? H::expect : H::other;
    case 7:
      if (iequals(n, "upgrade")) return H::upgrade;
      if (iequals(n, "refresh")) return H::refresh;
      if (iequals(n, "trailer")) return H::trailer;
      return H::other;
    case 8: return iequals(n, "location") ? H::location : H::other;
    case 9:
      if (iequals(n, "forwarded")) return H::forwarded;
      if (iequals(n, "x-real-ip")) return H::x_real_ip;
      return H::other;
    case 10:
      if (iequals(n, "connection")) return H::connection;
      if (iequals(n, "keep-alive")) return H::keep_alive;
      if (iequals(n, "set-cookie")) return H::set_cookie;
      if (iequals(n, "tracestate")) return H::tracestate;
      return H::other;
    case 11: return iequals(n, "traceparent") ? H::traceparent : H::other;
    case 12: return iequals(n, "x-request-id") ? H::x_request_id : H::other;
    case 14: return iequals(n, "content-length") ? H::content_length : H::other;
    case 15:
      if (iequals(n, "x-forwarded-for")) return H::xff;
      return H::other;
    case 16:
      if (iequals(n, "proxy-connection")) return H::proxy_connection;
      if (iequals(n, "x-forwarded-host")) return H::xf_host;
      if (iequals(n, "x-forwarded-port")) return H::xf_port;
      if (iequals(n, "content-location")) return H::content_location;
      return H::other;
    case 17:
      if (iequals(n, "transfer-encoding")) return H::transfer_encoding;
      if (iequals(n, "x-forwarded-proto")) return H::xf_proto;
      return H::other;
    default: return H::other;
  }
}

// Whether a client's field is spelled with '_' where a field gatehouse
// sets, or a rule or policy removes, has '-' (Remote_User, X_Forwarded_For).
// CGI, WSGI, Rack and PHP give applications both spellings under one name
// (HTTP_REMOTE_USER), so passing it would let a client forge identity and
// client-address fields that copy_headers, claims_to_headers and the
// forwarding fields are meant to own. Such a field is dropped (nginx drops
// every field with '_' by default; this keeps the harmless ones).
bool impersonates(std::string_view name, const HeadEdits& edits) {
  if (name.find('_') == std::string_view::npos) return false;
  std::string dashed(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return classify(dashed) != H::other || edits.drops(dashed);
}

// Appends `v` to a list header value collected from several fields.
void join(std::string& acc, std::string_view v) {
  if (!acc.empty()) acc += ", ";
  acc += v;
}

bool is_token_char(unsigned char c) { return http::is_tchar(c); }

// RFC 7239 values: token, or quoted-string when they hold other characters.
void append_fwd_value(std::string& out, std::string_view v, bool force_quote) {
  bool quote = force_quote;
  for (unsigned char c : v)
    if (!is_token_char(c)) quote = true;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string_view authority_for(const upstream::Backend& b, bool tls, std::string& tmp) {
  bool v6 = b.host.find(':') != std::string::npos;
  tmp.clear();
  if (v6) tmp += '[';
  tmp += b.host;
  if (v6) tmp += ']';
  if (b.port != (tls ? 443 : 80)) {
    tmp += ':';
    tmp += std::to_string(b.port);
  }
  return tmp;
}

}  // namespace

// The target the backend gets: the client's path and query as sent, the
// route's prefix removed with strip_prefix, "*" for OPTIONS *.
void Forwarder::append_upstream_target(const RouteRuntime& rr, std::string& out) const {
  const http::RequestHead& xreq = *req_->head;
  if (xreq.path == "*") out += '*';
  else if (rr.conf->strip_prefix) strip_route_prefix(xreq.path, xreq.normalized, rr.conf->path, out);
  else out += xreq.path;
}

// The authority the backend gets (Host, :authority): the client's with
// preserve_host, else the backend's own.
std::string_view Forwarder::upstream_authority(const RouteRuntime& rr, const upstream::Backend& b,
                                               std::string& tmp) {
  // (client_host: the request's authority, kept after the head is released.)
  authority_sent_ = rr.conf->preserve_host && !req_->client_host.empty();
  if (authority_sent_) return req_->client_host;
  return authority_for(b, rr.conf->ssl, tmp);
}

// The request's fields for the backend, in order, through `w` (which copies
// each): the client's minus hop-by-hop, framing, Host and X-Request-ID ones
// (and Expect when the body is held whole), forwarding fields as
// server.forwarded and trusted_proxies say, Via, X-Request-ID, the request
// rules. Framing and upgrade fields are the upstream codec's. traceparent
// and tracestate (W3C Trace Context) pass as they are, unless gatehouse
// started a trace for the request (server.traceparent: start): then its
// traceparent replaces them (the tracestate belongs to the trace replaced).
void Forwarder::write_upstream_fields(FieldWriter& w) {
  const ForwardRequest& req = *req_;
  const http::RequestHead& xreq = *req.head;
  const ClientInfo& client = *req.client;
  const auto& srv = req.rt->cfg.server;

  const ConnTokens conn = ConnTokens::of(xreq.fields);

  const config::Forwarded fm = srv.forwarded;
  const bool managed = fm != config::Forwarded::none;
  const bool xf = fm == config::Forwarded::x_forwarded || fm == config::Forwarded::both;
  const bool rf = fm == config::Forwarded::rfc7239 || fm == config::Forwarded::both;
  const bool trusted = is_trusted(client.ip, srv.trusted_proxies);
  const HeadEdits edits{req.pipeline->upstream_edits(), req.ex->upstream};
  const RequestBody& body = req.body;
  const std::string_view started_trace = req.trace ? req.trace->started() : std::string_view();

  std::string prev_xff, prev_fwd, prev_via;
  std::string_view prev_proto, prev_xhost, prev_xport, prev_real;
  for (const auto& h : xreq.fields) {
    H k = classify(h.name);
    switch (k) {
      case H::connection: case H::keep_alive: case H::proxy_connection: case H::te:
      case H::transfer_encoding: case H::upgrade: case H::host: case H::content_length:
      case H::x_request_id:
        continue;
      case H::via:
        join(prev_via, h.value);
        continue;
      case H::xff: case H::xf_proto: case H::xf_host: case H::xf_port: case H::x_real_ip:
        if (!managed) break;
        if (!trusted) continue;  // spoofable: only trusted proxies may tell us
        if (!xf) break;          // rfc7239 mode: a trusted proxy's headers pass as they are
        if (k == H::xff) join(prev_xff, h.value);
        else if (k == H::xf_proto) prev_proto = h.value;
        else if (k == H::xf_host) prev_xhost = h.value;
        else if (k == H::xf_port) prev_xport = h.value;
        else prev_real = h.value;
        continue;
      case H::forwarded:
        if (!managed) break;
        if (!trusted) continue;
        join(prev_fwd, h.value);
        if (!rf) break;          // x-forwarded mode: a trusted proxy's Forwarded passes as it is
        continue;
      case H::expect:
        // A body gatehouse already holds whole goes with the head: the
        // client's 100-continue was answered by us (see the downstream).
        if (body.kind == RequestBody::Kind::whole) continue;
        break;
      case H::traceparent: case H::tracestate:
        if (!started_trace.empty()) continue;
        break;
      default:
        break;
    }
    if (impersonates(h.name, edits)) continue;
    pass_field(h, conn, edits, w);
  }

  const std::string_view scheme = client.tls ? "https" : "http";
  std::string& v = scratch_;
  // A trusted proxy that told us the client only in Forwarded: its for=
  // chain starts X-Forwarded-For, so the backend, the policies
  // (effective_client) and X-Real-IP agree on who the client is.
  if (xf && prev_xff.empty() && !prev_fwd.empty()) prev_xff = forwarded_for_chain(prev_fwd);
  if (xf) {
    if (!edits.drops("x-forwarded-for")) {
      v = prev_xff;
      if (!v.empty()) v += ", ";
      v += client.ip_str;
      w.add("X-Forwarded-For", v);
    }
    if (!edits.drops("x-forwarded-proto"))
      w.add("X-Forwarded-Proto", prev_proto.empty() ? scheme : prev_proto);
    if (!edits.drops("x-forwarded-host")) {
      if (!prev_xhost.empty()) w.add("X-Forwarded-Host", prev_xhost);
      else if (!xreq.authority.empty()) w.add("X-Forwarded-Host", xreq.authority);
    }
    if (!edits.drops("x-forwarded-port")) {
      if (!prev_xport.empty()) w.add("X-Forwarded-Port", prev_xport);
      else w.add("X-Forwarded-Port", std::to_string(client.local_port));
    }
    if (!edits.drops("x-real-ip")) {
      if (!prev_real.empty()) w.add("X-Real-IP", prev_real);
      else if (trusted && !prev_xff.empty())
        w.add("X-Real-IP", real_client(prev_xff, client.ip_str, srv.trusted_proxies));
      else w.add("X-Real-IP", client.ip_str);
    }
  }
  if (rf && !edits.drops("forwarded")) {
    v = prev_fwd;
    if (!v.empty()) v += ", ";
    v += "for=";
    if (core::is_v4_mapped(client.ip)) {
      v += client.ip_str;
    } else {
      v += "\"[";
      v += client.ip_str;
      v += "]\"";
    }
    v += ";proto=";
    v += scheme;
    if (!xreq.authority.empty()) {
      v += ";host=";
      append_fwd_value(v, xreq.authority, false);
    }
    w.add("Forwarded", v);
  }
  if (!edits.drops("via")) {
    v = prev_via;
    if (!v.empty()) v += ", ";
    v += "1.1 gatehouse";
    w.add("Via", v);
  }
  if (!edits.drops("x-request-id")) w.add("X-Request-ID", req.request_id);
  if (!started_trace.empty() && !edits.drops("traceparent")) w.add("traceparent", started_trace);
  edits.for_each_added([&w](std::string_view name, std::string_view value) { w.add(name, value); });
}

// The upstream request in HTTP/1.1 (RFC 9112): request line, Host, the
// field rules above, then the body's framing as the request body is to be
// sent, and the upgrade the client asked for.
void Forwarder::build_upstream_head(const RouteRuntime& rr, const upstream::Backend& b) {
  const ForwardRequest& req = *req_;
  out_.clear();
  out_.reserve(1000);   // (most heads fit: one allocation, not a doubling per field; under malloc's per-thread cache limit)
  out_ += req.head->method;
  out_ += ' ';
  append_upstream_target(rr, out_);
  out_ += " HTTP/1.1\r\nHost: ";
  std::string authority;
  out_ += upstream_authority(rr, b, authority);
  out_ += "\r\n";
  FieldLines lines{&out_};
  write_upstream_fields(lines);
  const RequestBody& body = req.body;
  switch (body.kind) {
    case RequestBody::Kind::none:
      break;
    case RequestBody::Kind::whole:
      // A chunked body received whole goes on with its length, as nginx
      // does: many application servers handle chunked request bodies poorly.
      if (body.whole_chunked) {
        out_ += "Transfer-Encoding: chunked\r\n";
      } else {
        out_ += "Content-Length: ";
        out_ += std::to_string(body.whole.size());
        out_ += "\r\n";
      }
      break;
    case RequestBody::Kind::stream:
      if (body.length_known) {
        out_ += "Content-Length: ";
        out_ += std::to_string(body.length);
        out_ += "\r\n";
      } else {
        out_ += "Transfer-Encoding: chunked\r\n";
      }
      break;
  }
  if (!req.upgrade.empty()) {
    out_ += "Connection: upgrade\r\nUpgrade: ";
    out_ += req.upgrade;
    out_ += "\r\n";
  }
  out_ += "\r\n";
}

// After a head-only try (see forward) the head has left with the body
// source, so another backend gets the head serialized for the first one;
// only its Host can differ, when the route sends the backend's own authority.
void Forwarder::retarget_upstream_head(const RouteRuntime& rr, const upstream::Backend& b) {
  const config::Route& route = *rr.conf;
  if (authority_sent_) return;
  size_t at = out_.find("\r\nHost: ");
  if (at == std::string::npos) return;
  at += 8;
  const size_t end = out_.find("\r\n", at);
  std::string authority;
  out_.replace(at, end - at, authority_for(b, route.ssl, authority));
}

// The response's fields as the client is to get them, in order, through `w`
// (which copies each): the backend's minus hop-by-hop and framing fields
// (Content-Length only while `keep_length`), Location, Content-Location,
// Refresh and Set-Cookie mapped back to the client's view, Via, the request
// id, the response rules. The status line and the downstream's own framing
// and connection fields are the downstream's.
void Forwarder::write_response_fields(const RouteRuntime& rr, const upstream::Backend& b,
                                      FieldWriter& w, bool keep_length,
                                      std::span<const http::Field> fields,
                                      const policy::CompressChoice& coded) {
  const bool coding = coded.coding != coding::Coding::identity;
  if (coding) keep_length = false;   // the coded body's length is not known ahead
  bool vary_done = !coded.vary;
  const ForwardRequest& req = *req_;
  const config::Route& route = *rr.conf;
  const ConnTokens conn = ConnTokens::of(fields);

  std::string authority;
  RewriteContext ctx;
  ctx.client_scheme = req.client->tls ? "https" : "http";
  ctx.client_host = req.client_host;
  ctx.route_prefix = route.path;
  ctx.strip_prefix = route.strip_prefix;
  ctx.preserve_host = route.preserve_host;
  ctx.backend_scheme = rr.backend_scheme;
  ctx.backend_authority = authority_for(b, route.ssl, authority);
  ctx.backend_host = b.host;
  const bool rewrite = ctx.active();

  const HeadEdits edits{req.pipeline->response_edits(), req.ex->downstream};
  scratch_.clear();   // the Via list
  bool have_rid = false;
  bool have_date = false;
  const bool cached_route = cx_.rule != nullptr;
  std::string_view prior_cache_status;   // an upstream cache's; ours goes after it (RFC 9211 2)
  for (const auto& h : fields) {
    H k = classify(h.name);
    switch (k) {
      case H::connection: case H::keep_alive: case H::proxy_connection: case H::te:
      case H::transfer_encoding: case H::upgrade:
        continue;  // the downstream states its own framing and upgrade
      case H::content_length:
        if (!keep_length) continue;
        break;
      case H::via:
        join(scratch_, h.value);
        continue;
      case H::x_request_id:
        have_rid = true;
        break;
      case H::date:
        have_date = true;
        break;
      case H::other:
        if (!coding && vary_done && !cached_route) break;   // (no compress or cache policy at work: the usual path)
        if (cached_route) {
          if (http::iequals(h.name, "cache-status")) {
            prior_cache_status = h.value;
            continue;
          }
          if (cx_.serving && http::iequals(h.name, "age")) continue;   // ours, from the store's arithmetic
        }
        if (coding && (http::iequals(h.name, "accept-ranges") || http::iequals(h.name, "content-encoding")))
          continue;   // not of the coded form (an identity Content-Encoding gives way to ours)
        if (coding && http::iequals(h.name, "etag") && !h.value.starts_with("W/")) {
          // RFC 9110 8.8.3: the coded representation is not byte-equal.
          std::string& weak = scratch2_;
          weak.assign("W/");
          weak += h.value;
          if (!edits.drops(h.name)) w.add(h.name, weak);
          continue;
        }
        if (!vary_done && http::iequals(h.name, "vary")) {
          vary_done = true;
          if (policy::CompressRule::vary_with_accept_encoding(h.value, scratch2_)) {
            if (!edits.drops(h.name)) w.add(h.name, scratch2_);
            continue;
          }
        }
        break;
      case H::location: case H::content_location: case H::refresh: case H::set_cookie:
        if (rewrite) {
          std::optional<std::string> v = k == H::set_cookie ? rewrite_set_cookie(h.value, ctx)
                                         : k == H::refresh  ? rewrite_refresh(h.value, ctx)
                                                            : rewrite_location(h.value, ctx);
          if (v) {
            if (!edits.drops(h.name)) w.add(h.name, *v);
            continue;
          }
        }
        break;
      default:
        break;
    }
    pass_field(h, conn, edits, w);
  }
  if (!edits.drops("via")) {
    if (!scratch_.empty()) scratch_ += ", ";
    scratch_ += "1.1 gatehouse";
    w.add("Via", scratch_);
  }
  if (!have_rid && !edits.drops("x-request-id")) w.add("X-Request-ID", req.request_id);
  // RFC 9110 6.6.1: a recipient with a clock forwarding a response without
  // Date adds one.
  if (!have_date && !edits.drops("date")) w.add("Date", http::http_date());
  if (!vary_done && !edits.drops("vary")) w.add("Vary", "Accept-Encoding");
  if (coding) w.add("Content-Encoding", coding::token(coded.coding));
  if (cached_route) {
    if (cx_.serving) {
      serve_age_ = std::to_string(cx_.age);
      w.add("Age", serve_age_);
    }
    if (!edits.drops("cache-status")) {
      std::string_view ours = cx_.status_value();
      if (prior_cache_status.empty()) {
        w.add("Cache-Status", ours);
      } else {
        std::string& v = scratch2_;
        v.assign(prior_cache_status);
        v += ", ";
        v += ours;
        w.add("Cache-Status", v);
      }
    }
  }
  edits.for_each_added([&w](std::string_view name, std::string_view value) { w.add(name, value); });
}

}  // namespace gh::proxy
