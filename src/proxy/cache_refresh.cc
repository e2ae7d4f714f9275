#include "proxy/cache_refresh.h"

#include "core/log.h"

namespace gh::proxy {

using namespace gh::net;

void CacheRefresh::start(WorkerState& ws, Executor ex, std::shared_ptr<const Runtime> rt,
                         const ForwardRequest& from) {
  auto* r = new CacheRefresh(ws, ex, std::move(rt), from);
  // (Posted: never run inside the client's request's own dispatch.)
  asio::co_spawn(ex, r->run(), asio::detached);
}

CacheRefresh::CacheRefresh(WorkerState& ws, Executor ex, std::shared_ptr<const Runtime> rt,
                           const ForwardRequest& from)
    : ws_(ws), ex_(ex), rt_(std::move(rt)), fwd_(ws, ex) {
  const http::RequestHead& h = *from.head;
  scheme_.assign(h.scheme);
  authority_.assign(h.authority);
  path_.assign(h.path);
  normalized_.assign(h.normalized);
  request_id_.assign(from.request_id);
  owned_.reserve(h.fields.size());
  for (const http::Field& f : h.fields)
    owned_.push_back(cache::OwnedField{std::string(f.name), std::string(f.value)});
  fields_.reserve(owned_.size());
  for (const cache::OwnedField& f : owned_) fields_.push_back(http::Field{f.name, f.value});
  head_.method = "GET";
  head_.scheme = scheme_;
  head_.authority = authority_;
  head_.path = path_;
  head_.normalized = normalized_;
  head_.fields = fields_;
  head_.version = h.version;
  client_ = *from.client;

  rec_.start_unix_ms = unix_ms();
  rec_.client = client_.ip_str;
  rec_.method = head_.method;
  rec_.path = path_;
  rec_.host = authority_;
  rec_.user_agent = "gatehouse-cache-refresh";
  rec_.request_id = request_id_;
  if (from.trace) trace_ = *from.trace;
  rec_.trace_id = trace_.trace_id();
  rec_.tls_version = client_.tls_version;   // (the client request's: the refresh stands for it)
  rec_.route = rt_->routes[from.route_index].conf->path;
  rec_.route_slot = rt_->routes[from.route_index].stats_slot;
  rec_.http2 = from.rec && from.rec->http2;
  rec_.version_minor = from.rec ? from.rec->version_minor : 1;

  fr_.rt = rt_.get();
  fr_.route_index = from.route_index;
  fr_.head = &head_;
  fr_.client = &client_;
  fr_.pipeline = from.pipeline;
  fr_.ex = &pex_;
  fr_.client_host = authority_;
  fr_.request_id = request_id_;
  fr_.trace = &trace_;
  fr_.client_hash = from.client_hash;
  fr_.rec = &rec_;
  fr_.cache_refresh = true;
  pex_.request = &head_;

  next_ = ws_.cache_refreshes;
  if (next_) next_->prev_ = this;
  ws_.cache_refreshes = this;
}

CacheRefresh::~CacheRefresh() {
  if (prev_) prev_->next_ = next_;
  else ws_.cache_refreshes = next_;
  if (next_) next_->prev_ = prev_;
}

void CacheRefresh::cancel_all(WorkerState& ws) {
  for (CacheRefresh* r = ws.cache_refreshes; r; r = r->next_) r->fwd_.cancel();
}

awaitable<void> CacheRefresh::run() {
  const int64_t start = now_us();
  co_await fwd_.forward(fr_, *this);
  fwd_.release(false);
  if (rec_.status != 0) {
    rec_.duration_ms = double(now_us() - start) / 1000.0;
    if (upstream::Backend* b = fwd_.backend()) {
      rec_.backend = b->name;
      rec_.backend_slot = b->stats_slot;
    }
    ws_.finish(rec_);
  }
  delete this;
}

awaitable<void> CacheRefresh::send_error(int status, const char* error, std::string_view,
                                         std::string_view) {
  rec_.status = status;
  rec_.proxy_status = error;
  co_return;
}

}  // namespace gh::proxy
