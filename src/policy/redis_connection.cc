#include "policy/redis_connection.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <vector>

#include "core/clock.h"

namespace gh::policy {
namespace {

namespace asio = net::asio;

constexpr int64_t kBackoffFirstMs = 100;
constexpr int64_t kBackoffMaxMs = 2000;
constexpr size_t kMaxWaiting = 65536;     // commands unanswered on one connection
constexpr int kMaxArgs = 8;               // arguments of one command (ours take 6)
constexpr int64_t kIdleCloseMs = 60'000;  // a connection nobody used for this long is closed

using core::steady_ms;

bool is_ip_literal(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

// hiredis's event hooks on the worker's loop. Reads: a readiness wait on the
// socket, re-armed after each batch of replies (all bytes the socket holds
// are consumed first, since Asio's epoll is edge-triggered). Writes: hiredis
// is asked to write once the loop turn's other handlers have run (a post),
// which is what gathers the turn's commands into one write; only a write
// the kernel could not take whole waits for writability.
struct Watch : std::enable_shared_from_this<Watch> {
  Watch(const net::Executor& ex, redisAsyncContext* c) : ac(c), sd(ex, c->c.fd) {}
  redisAsyncContext* ac;   // null once hiredis let go of the socket
  asio::posix::basic_stream_descriptor<net::Executor> sd;
  bool want_read = false, want_write = false;
  bool read_armed = false, write_armed = false, write_posted = false, in_write = false;
  std::shared_ptr<Watch> self;   // hiredis's reference, dropped by cleanup

  void arm_read() {
    if (read_armed || !ac) return;
    read_armed = true;
    sd.async_wait(asio::posix::descriptor_base::wait_read, [w = shared_from_this()](net::error_code ec) {
      w->read_armed = false;
      if (ec || !w->ac || !w->want_read) return;
      for (;;) {
        redisAsyncHandleRead(w->ac);
        if (!w->ac) return;
        int n = 0;
        if (ioctl(w->ac->c.fd, FIONREAD, &n) != 0 || n <= 0) break;
      }
      if (w->want_read) w->arm_read();
    });
  }

  void write_now() {
    if (!ac || !want_write) return;
    in_write = true;
    redisAsyncHandleWrite(ac);
    in_write = false;
    if (ac && want_write && !write_armed) {
      write_armed = true;
      sd.async_wait(asio::posix::descriptor_base::wait_write, [w = shared_from_this()](net::error_code ec) {
        w->write_armed = false;
        if (!ec) w->write_now();
      });
    }
  }

  void post_write() {
    if (write_posted || write_armed || in_write || !ac) return;
    write_posted = true;
    asio::post(sd.get_executor(), [w = shared_from_this()] {
      w->write_posted = false;
      w->write_now();
    });
  }

  static void add_read(void* p) {
    auto* w = static_cast<Watch*>(p);
    w->want_read = true;
    w->arm_read();
  }
  static void del_read(void* p) { static_cast<Watch*>(p)->want_read = false; }
  static void add_write(void* p) {
    auto* w = static_cast<Watch*>(p);
    w->want_write = true;
    w->post_write();
  }
  static void del_write(void* p) { static_cast<Watch*>(p)->want_write = false; }
  static void cleanup(void* p) {
    auto* w = static_cast<Watch*>(p);
    w->ac = nullptr;
    w->want_read = w->want_write = false;
    // hiredis closes the socket: Asio must only forget it (pending waits
    // end with operation_aborted).
    w->sd.release();
    std::shared_ptr<Watch> keep = std::move(w->self);
  }

  static void attach(const net::Executor& ex, redisAsyncContext* ac) {
    auto w = std::make_shared<Watch>(ex, ac);
    w->self = w;
    ac->ev.data = w.get();
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
  }
};

// AUTH and SELECT on a new connection: an error drops it (the commands
// queued behind fail with it, and the next attempt comes after the back-off).
struct SetupReply final : RedisReplyHandler {
  explicit SetupReply(std::string w) : what(std::move(w)) {}
  std::string what;
  void on_reply(RedisConnection& conn, const redisReply* r, const std::string&) override {
    if (r && r->type == REDIS_REPLY_ERROR)
      conn.setup_refused("Redis refused " + what + ": " + std::string(r->str, std::min<size_t>(r->len, 200)));
  }
};

std::string reason(const redisAsyncContext* ac, const char* fallback) {
  if (ac && ac->err && ac->errstr[0]) return ac->errstr;
  return fallback;
}

void on_connect(const redisAsyncContext* ac, int status) {
  auto* conn = static_cast<RedisConnection*>(ac->data);
  if (conn) conn->on_connect_result(ac, status == REDIS_OK, reason(ac, "cannot connect").c_str());
}

void on_disconnect(const redisAsyncContext* ac, int status) {
  auto* conn = static_cast<RedisConnection*>(ac->data);
  if (conn) conn->on_lost(ac, reason(ac, "connection closed").c_str());
}

void on_reply(redisAsyncContext* ac, void* r, void* priv) {
  std::unique_ptr<std::shared_ptr<RedisReplyHandler>> holder(
      static_cast<std::shared_ptr<RedisReplyHandler>*>(priv));
  auto* conn = static_cast<RedisConnection*>(ac->data);
  auto* reply = static_cast<redisReply*>(r);
  if (!conn) return;
  if (reply) conn->on_answer();
  std::string why;
  // (Dropped by us: down() noted why before freeing.)
  if (!reply) why = reason(ac, conn->last_error().empty() ? "connection lost" : conn->last_error().c_str());
  if (*holder) (*holder)->on_reply(*conn, reply, why);
}

}  // namespace

RedisConnection& RedisConnection::for_thread(const net::Executor& ex, const config::RateLimit::Redis& server,
                                             int64_t stall_ms) {
  // A thread's connections: normally one (one `redis` section), two for a
  // while after a reload changed the address.
  thread_local std::vector<std::unique_ptr<RedisConnection>> conns;
  const int64_t now = steady_ms();
  RedisConnection* found = nullptr;
  for (auto it = conns.begin(); it != conns.end();) {
    RedisConnection& c = **it;
    if (c.host_ == server.host && c.port_ == server.port && c.password_ == server.password &&
        c.db_ == server.db) {
      found = &c;
    } else if (now - c.last_used_ms > kIdleCloseMs && c.sent_at_.empty()) {
      it = conns.erase(it);
      continue;
    }
    ++it;
  }
  if (!found) {
    conns.push_back(std::make_unique<RedisConnection>(ex, server));
    found = conns.back().get();
  }
  found->stall_ms = stall_ms;
  found->last_used_ms = now;
  return *found;
}

RedisConnection::RedisConnection(const net::Executor& ex, const config::RateLimit::Redis& server)
    : ex_(ex), host_(server.host), port_(server.port), password_(server.password), db_(server.db),
      alive_(std::make_shared<bool>(true)) {
  const bool v6 = host_.find(':') != std::string::npos;
  name_ = (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

RedisConnection::~RedisConnection() {
  *alive_ = false;
  closing_ = true;
  if (redisAsyncContext* ac = std::exchange(ac_, nullptr)) redisAsyncFree(ac);
}

void RedisConnection::down(std::string why) {
  last_error_ = std::move(why);
  down_until_ms_ = steady_ms() + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kBackoffMaxMs);
  sent_at_.clear();
  // A name's next address is tried next; after the last, the name is
  // looked up again.
  if (++next_addr_ >= addrs_.size()) {
    addrs_.clear();
    next_addr_ = 0;
  }
  // Freeing answers every waiting command with "no reply"; inside a hiredis
  // callback hiredis defers the free until the callback returns.
  if (redisAsyncContext* ac = std::exchange(ac_, nullptr)) redisAsyncFree(ac);
}

void RedisConnection::on_connect_result(const redisAsyncContext* ac, bool ok, const char* why) {
  if (ok || ac != ac_) return;
  ac_ = nullptr;   // (hiredis frees it after this callback)
  down(why);
}

void RedisConnection::on_lost(const redisAsyncContext* ac, const char* why) {
  if (ac != ac_) return;   // (one we dropped ourselves: already down)
  ac_ = nullptr;
  down(why);
}

void RedisConnection::on_answer() {
  if (!sent_at_.empty()) sent_at_.pop_front();
  backoff_ms_ = kBackoffFirstMs;
}

void RedisConnection::connect_to(const std::string& ip) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), port_);
  if (!ac) {
    down("out of memory");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    down(why);
    return;
  }
  try {
    Watch::attach(ex_, ac);   // (throws only when epoll cannot take the socket)
  } catch (const std::exception& e) {
    redisAsyncFree(ac);
    down(std::string("cannot watch the socket: ") + e.what());
    return;
  }
  ac->data = this;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  ac_ = ac;
  // (Queued ahead of the command that made us connect: one round trip.)
  std::string err;
  if (!password_.empty()) send({"AUTH", password_}, std::make_shared<SetupReply>("AUTH"), err);
  const std::string db = std::to_string(db_);
  if (db_ != 0) send({"SELECT", db}, std::make_shared<SetupReply>("SELECT " + db), err);
}

bool RedisConnection::ensure_connected(std::string& error) {
  if (closing_) {
    error = "closing";
    return false;
  }
  if (ac_) return true;
  if (steady_ms() < down_until_ms_) {
    error = last_error_;
    return false;
  }
  if (is_ip_literal(host_)) {
    connect_to(host_);
  } else if (!addrs_.empty()) {
    connect_to(addrs_[next_addr_]);
  } else {
    // A name is looked up without blocking the worker (Asio's resolver
    // thread); send() holds the commands meanwhile.
    if (!resolving_) {
      resolving_ = true;
      auto res = std::make_shared<asio::ip::basic_resolver<asio::ip::tcp, net::Executor>>(ex_);
      res->async_resolve(host_, std::to_string(port_),
                         [this, res, alive = alive_](net::error_code ec, auto results) {
                           if (!*alive) return;
                           std::vector<std::string> addrs;
                           if (!ec)
                             for (const auto& r : results) addrs.push_back(r.endpoint().address().to_string());
                           resolved(std::move(addrs), "cannot resolve " + host_ + ": " +
                                                          (ec ? ec.message() : "no address"));
                         });
    }
    return false;
  }
  if (!ac_) {
    error = last_error_;
    return false;
  }
  return true;
}

bool RedisConnection::send(std::initializer_list<std::string_view> argv,
                           std::shared_ptr<RedisReplyHandler> handler, std::string& error) {
  std::string_view views[kMaxArgs];
  int n = 0;
  for (std::string_view a : argv)
    if (n < kMaxArgs) views[n++] = a;
  return send_argv(views, n, handler, error);
}

bool RedisConnection::send_argv(const std::string_view* views, int n,
                                std::shared_ptr<RedisReplyHandler>& handler, std::string& error) {
  const int64_t now = steady_ms();
  last_used_ms = now;
  if (ac_ && !sent_at_.empty() && now - sent_at_.front() > stall_ms)
    down("no reply for " + std::to_string(now - sent_at_.front()) + " ms");
  if (!ensure_connected(error)) return resolving_ && queue(views, n, handler, error);
  if (sent_at_.size() >= kMaxWaiting) {
    error = "too many commands waiting for a reply";
    return false;
  }
  const char* args[kMaxArgs];
  size_t lens[kMaxArgs];
  for (int i = 0; i < n; ++i) {
    args[i] = views[i].data();
    lens[i] = views[i].size();
  }
  auto* holder = new std::shared_ptr<RedisReplyHandler>(std::move(handler));
  if (redisAsyncCommandArgv(ac_, on_reply, holder, n, args, lens) != REDIS_OK) {
    delete holder;
    error = reason(ac_, "cannot queue the command");
    return false;
  }
  sent_at_.push_back(now);
  return true;
}

bool RedisConnection::queue(const std::string_view* argv, int n, std::shared_ptr<RedisReplyHandler>& handler,
                            std::string& error) {
  if (held_.size() >= kMaxWaiting) {
    error = "too many commands waiting for " + host_ + " to resolve";
    return false;
  }
  Held h;
  for (int i = 0; i < n; ++i) h.argv.emplace_back(argv[i]);
  h.handler = std::move(handler);
  held_.push_back(std::move(h));
  return true;
}

void RedisConnection::resolved(std::vector<std::string> addrs, const std::string& error) {
  resolving_ = false;
  std::vector<Held> held = std::move(held_);
  held_.clear();
  const bool ok = !addrs.empty();
  addrs_ = std::move(addrs);
  next_addr_ = 0;
  if (!ok) down(error);
  for (Held& h : held) {
    std::string err = error;
    bool sent = false;
    if (ok) {
      std::string_view a[kMaxArgs];
      const int n = static_cast<int>(std::min<size_t>(h.argv.size(), kMaxArgs));
      for (int i = 0; i < n; ++i) a[i] = h.argv[i];
      // (The first connects; hiredis copies the arguments.)
      sent = send_argv(a, n, h.handler, err);
    }
    if (!sent) h.handler->on_reply(*this, nullptr, err);
  }
}

}  // namespace gh::policy
