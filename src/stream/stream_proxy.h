// L4 streams (CONTRACT "L4 streams, PROXY protocol"): a `streams` entry as a
// runtime snapshot holds it, the per-worker state its connections share, and
// the one entry point every stream connection goes through, whether it came
// to the entry's own `listen` listener or to the TLS listener with a
// ClientHello naming one of its `sni` names (passthrough: the TLS bytes are
// relayed untouched, the TLS ends at the backend).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/local_counter.h"
#include "net/asio.h"
#include "net/pipe_pair.h"
#include "net/server.h"
#include "net/splice.h"
#include "upstream/backend.h"
#include "upstream/balancer.h"
#include "upstream/resolver.h"

namespace gh::stream {

// One `streams` entry in a snapshot. Immutable once built; shared by every
// worker (health and load are the backends' atomics).
struct StreamRuntime {
  const config::StreamRoute* conf = nullptr;   // in the snapshot's Config::streams
  std::vector<upstream::Backend*> backends;    // owned by the snapshot, in config order
  // For logs and the metrics label: the listen address ("0.0.0.0:8154", IPv6
  // in brackets) or "sni:" and its first name ("sni:agents.example.com").
  std::string name;
  // Unique for the life of the process (never reused): the key of each
  // worker's balancer for this entry, so a balancer never outlives its backends
  // in use and a reloaded entry starts its own.
  uint64_t id = 0;
};

// A snapshot's stream entries and the two ways to find one.
struct StreamTable {
  std::vector<StreamRuntime> entries;          // in config order

  // The entry with `listen` on exactly this host and port (as the listener
  // spec has them, net/listener_plan.cc), or nullptr.
  const StreamRuntime* by_listener(std::string_view host, uint16_t port) const;

  // The entry for a TLS server name (RFC 6066 3 SNI), which the caller has
  // lower-cased (and stripped of a trailing dot, if it allows one): an exact
  // name first, then a wildcard "*.example.com" matching exactly one more
  // label ("a.example.com", not "example.com" nor "a.b.example.com").
  // nullptr when no entry lists it (the connection is then terminated as an
  // HTTPS one). Names are unique across entries (the config refuses
  // duplicates), so the answer does not depend on the entries' order.
  const StreamRuntime* by_sni(std::string_view server_name) const;

  bool has_sni() const { return sni_count_ > 0; }

  // Builds the name index; called once by the snapshot builder after
  // `entries` is complete (entries must not move afterwards).
  void index();

 private:
  std::unordered_map<std::string, const StreamRuntime*> exact_;
  std::unordered_map<std::string, const StreamRuntime*> wildcard_;   // key: "example.com"
  size_t sni_count_ = 0;
};

// One finished stream connection, for the access log and metrics.
struct StreamRecord {
  const StreamRuntime* stream = nullptr;
  net::tcp::endpoint client;        // the client (from a PROXY header when one came)
  net::tcp::endpoint local;         // the address it connected to
  const upstream::Backend* backend = nullptr;   // nullptr: no backend reached
  uint64_t bytes_up = 0;            // client -> backend (payload, PROXY header excluded)
  uint64_t bytes_down = 0;          // backend -> client
  int64_t start_unix_ms = 0;        // wall clock, when it was accepted
  int64_t duration_ms = 0;
  unsigned attempts = 0;            // backend connects tried
  // How it ended: "closed" (both sides finished), "idle_timeout", "reset"
  // (an error or reset on either side), "no_backend" (every try failed, or
  // none usable), "shutdown" (cut at the drain deadline).
  std::string_view end;
};

class Relay;   // one open stream connection (relay.h)

// What one worker's stream connections share; touched only on that worker's
// thread. The proxy layer owns one per worker (in its WorkerState).
class StreamWorker {
 public:
  StreamWorker(net::Worker& w, upstream::Resolver& resolver) : worker(w), resolver(resolver) {}
  StreamWorker(const StreamWorker&) = delete;
  StreamWorker& operator=(const StreamWorker&) = delete;

  net::Worker& worker;
  upstream::Resolver& resolver;     // the worker's (backends may be names)

  // false: relays copy through user space to the end instead of switching
  // to splice(2) past kSpliceAfterBytes (the path taken where the kernel
  // refuses splice; for tests).
  bool splice = net::splice_allowed();   // GATEHOUSE_NO_SPLICE=1: false

  // Called once per finished connection (set by the proxy layer: access log
  // line, metrics). May be empty.
  std::function<void(const StreamRecord&)> on_finish;

  // This worker's balancer for `s` (made on first use, then kept per entry id).
  upstream::Balancer& balancer(const StreamRuntime& s);
  // Drops balancers of entries no longer in `current` (after a reload).
  void forget_others(const StreamTable& current);

  // The drain deadline passed: cut every open stream connection now (each
  // logs "shutdown" and unwinds). Stream connections are never idle in the
  // HTTP sense, so draining itself leaves them running until then.
  void abort_all();

  // Stream connections open on this worker; readable from any thread (the
  // metrics scraper).
  int64_t open() const { return open_.get(); }

  // Pipes for splice(2), lent to a relay while bytes pass through one, so an
  // idle stream connection holds none (no descriptors, no pipe buffers): the
  // relay takes one when its source is readable and gives it back empty
  // before it waits again.
  net::PipeCache pipes;

  // The buffer a relay's copying phase moves bytes through (kCopyBytes),
  // made on first use and shared by every relay of the worker: a relay
  // holds it only between a recv and its send, never across a wait.
  char* copy_buffer();
  static constexpr size_t kCopyBytes = 32 * 1024;

 private:
  friend class Relay;
  std::unordered_map<uint64_t, std::unique_ptr<upstream::Balancer>> balancers_;
  std::unique_ptr<char[]> copy_buf_;
  Relay* relays_ = nullptr;         // intrusive list of open connections
  core::LocalGauge open_;
};

// Serves one stream connection to its end: picks a backend with the entry's
// balancer (usable ones first, backups when no primary is), connects within
// conf->connect_timeout, and on a refused or timed-out connect tries the next
// one (at most Relay::kMaxTries picks, never the same backend twice); sends
// the PROXY header (conf->proxy_protocol) first, then `preread` (bytes
// already taken from the client socket, e.g. after a PROXY header in;
// usually empty: an SNI dispatch only peeks; a view, so no temporary with a
// destructor sits in the caller's co_await: it must stay valid until this
// returns, which a caller that co_awaits it gets for free), then relays both ways until both sides are
// done (a FIN is passed on as a half-close), conf->idle_timeout passes with
// no byte either way, or either side errs (both closed). No backend: the
// client is closed at once, nothing sent.
//
// `s` keeps its snapshot alive for the connection's life (make it with the
// aliasing constructor from the Runtime pointer). `client_addr` is the
// client as the proxy sees it (the socket peer, or a PROXY header's source);
// `local_addr` the address it connected to; both go into the PROXY header
// out and the log. `slot` counts the connection toward max_connections
// until it ends. Never throws.
net::awaitable<void> serve_stream(StreamWorker& w, std::shared_ptr<const StreamRuntime> s,
                                  net::Socket client, net::tcp::endpoint client_addr,
                                  net::tcp::endpoint local_addr, net::ConnectionSlot slot,
                                  std::string_view preread = {});

}  // namespace gh::stream
