// A background revalidation of a stored response (RFC 5861 section 3,
// stale-while-revalidate): the client that found the response stale got it
// at once; this request, with no client, revalidates it upstream through
// the same forward path and stores the result. At most one runs per key
// (it leads the key's fetch, policy/cache.h), it is logged like any
// request (user agent "gatehouse-cache-refresh"), and it is cancelled when
// the worker stops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/freshness.h"
#include "proxy/forward.h"

namespace gh::proxy {

class CacheRefresh final : private Downstream {
 public:
  // Starts revalidating what `from` (a GET on a cached route, running on
  // `rt`) found stale; copies what it needs of it.
  static void start(WorkerState& ws, net::Executor ex, std::shared_ptr<const Runtime> rt,
                    const ForwardRequest& from);
  // Stops every refresh running on `ws` (the worker is ending).
  static void cancel_all(WorkerState& ws);

 private:
  CacheRefresh(WorkerState& ws, net::Executor ex, std::shared_ptr<const Runtime> rt,
               const ForwardRequest& from);
  ~CacheRefresh();
  net::awaitable<void> run();

  // Downstream: there is no client; what would go to one is dropped.
  struct NullWriter final : FieldWriter {
    void add(std::string_view, std::string_view) override {}
  };
  struct NullSink final : http::BodySink {
    net::awaitable<bool> write(const http::BodyBatch&) override { co_return true; }
    bool holds_head() const override { return false; }
  };
  net::awaitable<bool> send_interim(int, std::span<const http::Field>) override { co_return true; }
  FieldWriter& begin_response(int, std::string_view, const ResponseFraming&) override { return writer_; }
  bool keeps_length() const override { return true; }
  http::BodySink& end_response() override { return sink_; }
  bool keeps_connection() const override { return false; }
  net::awaitable<void> send_error(int status, const char* error, std::string_view,
                                  std::string_view) override;
  net::awaitable<void> send_intercepted(int) override { co_return; }
  void request_delivered() override {}
  void close_after_response() override {}
  net::awaitable<void> tunnel(upstream::UpConn&, core::Buffer&, net::Deadline&) override { co_return; }

  WorkerState& ws_;
  net::Executor ex_;
  std::shared_ptr<const Runtime> rt_;
  // The request, owned: the client's request is long gone when this runs.
  std::string scheme_, authority_, path_, normalized_, request_id_;
  http::RequestTrace trace_;   // the client request's (a started trace goes on with the refresh)
  std::vector<cache::OwnedField> owned_;
  std::vector<http::Field> fields_;
  http::RequestHead head_;
  ClientInfo client_;
  policy::Exchange pex_;
  LogRecord rec_;
  ForwardRequest fr_;
  Forwarder fwd_;
  NullWriter writer_;
  NullSink sink_;
  CacheRefresh* next_ = nullptr;
  CacheRefresh* prev_ = nullptr;
};

}  // namespace gh::proxy
