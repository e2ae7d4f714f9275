#include "proxy/own_response.h"

#include <cstdio>

#include "http/status.h"

namespace gh::proxy {

void make_error(OwnResponse& r, const policy::Pipeline* pipe, int status, const char* error,
                std::string_view details, std::string_view next_hop, bool from_backend) {
  if (!next_hop.empty() && pipe && pipe->hides_backends()) {
    // obfuscate: no backend name or address in what the client sees; the
    // details of an upstream failure often hold one (a DNS name, a reason).
    next_hop = {};
    details = {};
  }
  r.status = status;
  r.error = error;
  r.details = details;
  r.proxy_status.clear();
  http::append_proxy_status(r.proxy_status, error, next_hop, details);
  r.content_type = "text/plain; charset=utf-8";
  if (const policy::Policy::Page* page = pipe ? pipe->error_page(status, from_backend) : nullptr) {
    r.body = page->body;
    r.content_type = page->content_type;
    return;
  }
  r.text = std::to_string(status);
  r.text += ' ';
  r.text += http::reason_phrase(status);
  r.text += ": ";
  r.text += error;
  if (!details.empty()) {
    r.text += " (";
    r.text += details;
    r.text += ")";
  }
  r.text += "\n";
  r.body = r.text;
}

void make_plain(OwnResponse& r, const policy::Pipeline* pipe, int status, std::string_view text,
                bool from_backend) {
  r.status = status;
  r.error = "";
  r.details = {};
  r.proxy_status.clear();
  r.content_type = "text/plain; charset=utf-8";
  if (const policy::Policy::Page* page = pipe ? pipe->error_page(status, from_backend) : nullptr) {
    r.body = page->body;
    r.content_type = page->content_type;
    return;
  }
  r.text.assign(text);
  r.body = r.text;
}

void make_relayed(OwnResponse& r, const policy::Answer& a) {
  r.status = a.status;
  r.error = a.error;
  r.details = a.details;
  r.proxy_status.clear();
  http::append_proxy_status(r.proxy_status, a.error, {}, a.details);
  r.content_type = a.content_type;
  r.text.clear();
  r.body = a.body ? std::string_view(*a.body) : std::string_view();
}

void write_own_fields(FieldWriter& w, const OwnResponse& r, std::span<const http::Field> extra,
                      std::string_view request_id, const HeadEdits& edits) {
  // A response rule that sets or removes one of the fields made here
  // replaces it (set) or drops it (remove) rather than doubling it.
  if (!edits.drops("date")) w.add("Date", http::http_date());
  if (!r.content_type.empty() && !edits.drops("content-type")) w.add("Content-Type", r.content_type);
  char len[24];
  int n = std::snprintf(len, sizeof len, "%zu", r.body.size());
  w.add("Content-Length", std::string_view(len, static_cast<size_t>(n)));
  if (!r.proxy_status.empty() && !edits.drops("proxy-status")) w.add("Proxy-Status", r.proxy_status);
  // (Response rules and obfuscate apply to these too: a relayed answer's
  // fields are another server's, like a backend's.)
  for (const auto& f : extra)
    if (!edits.drops(f.name)) w.add(f.name, f.value);
  if (!request_id.empty() && !edits.drops("x-request-id")) w.add("X-Request-ID", request_id);
  edits.for_each_added([&w](std::string_view name, std::string_view value) { w.add(name, value); });
}

int grpc_status_for(int http_status) {
  switch (http_status) {
    case 400: return 13;   // INTERNAL
    case 401: return 16;   // UNAUTHENTICATED
    case 403: return 7;    // PERMISSION_DENIED
    case 404: return 12;   // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return 14;   // UNAVAILABLE
    default: return 2;     // UNKNOWN
  }
}

bool is_grpc_request(std::span<const http::Field> fields) {
  std::string_view ct = http::find_field(fields, "content-type");
  constexpr std::string_view kGrpc = "application/grpc";
  if (ct.size() < kGrpc.size() || !http::iequals(ct.substr(0, kGrpc.size()), kGrpc)) return false;
  return ct.size() == kGrpc.size() || ct[kGrpc.size()] == '+' || ct[kGrpc.size()] == ';';
}

}  // namespace gh::proxy
