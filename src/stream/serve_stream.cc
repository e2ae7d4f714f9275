#include <chrono>

#include "net/proxy_protocol.h"
#include "stream/relay.h"
#include "stream/stream_proxy.h"

namespace gh::stream {

using namespace gh::net;

static int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

awaitable<void> serve_stream(StreamWorker& w, std::shared_ptr<const StreamRuntime> s, Socket client,
                             tcp::endpoint client_addr, tcp::endpoint local_addr, ConnectionSlot slot,
                             std::string_view preread) {
  StreamRecord rec;
  rec.stream = s.get();
  rec.client = client_addr;
  rec.local = local_addr;
  rec.start_unix_ms = unix_ms();
  const int64_t started = now_ms();
  {
    Relay relay(w, std::move(client));
    bool connected = co_await relay.connect(*s, rec);
    if (!connected) {
      std::string_view cut = relay.cut_reason();   // "shutdown": cut at the drain deadline
      rec.end = cut.empty() ? std::string_view("no_backend") : cut;
    } else {
      std::string header;
      if (s->conf->proxy_protocol == config::ProxyProtocolOut::v1)
        header = proxy_protocol::format_v1(client_addr, local_addr);
      else if (s->conf->proxy_protocol == config::ProxyProtocolOut::v2)
        header = proxy_protocol::format_v2(client_addr, local_addr);
      header += preread;
      bool sent = co_await relay.send_backend(header, s->conf->idle_timeout);
      if (!sent) {
        std::string_view cut = relay.cut_reason();   // the idle deadline, or the drain's
        rec.end = cut.empty() ? std::string_view("reset") : cut;
      }
      else co_await relay.run(s->conf->idle_timeout, rec);
      if (sent && !preread.empty()) rec.bytes_up += preread.size();
    }
  }
  rec.duration_ms = now_ms() - started;
  if (w.on_finish) w.on_finish(rec);
  slot.release();
}

}  // namespace gh::stream
