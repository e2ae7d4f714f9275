// One worker thread's connection to one Redis server, through hiredis's
// async API driven by the worker's Asio loop (hiredis writes and parses the
// protocol; this file only tells it when its socket is readable/writable).
//
// Batching: a command is appended to hiredis's output buffer and the socket
// is written when the loop next finds it writable, so every command issued
// in one loop turn goes out in one write, and their replies come back in
// one read: a request waits one round trip at most.
//
// Failures: a connection that cannot be made, is lost, or stops answering
// (the oldest command unanswered for longer than the stall limit) is
// dropped; every command waiting on it gets "no reply" at once, and the
// connection stays down for a back-off (100 ms doubling to 2 s) during
// which send() refuses at once, so requests do not wait on a dead server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "net/asio.h"

struct redisAsyncContext;
struct redisReply;

namespace gh::policy {

class RedisConnection;

// Receives one command's reply. `reply` is null when there is none (the
// connection failed or was dropped); `error` then says why.
class RedisReplyHandler {
 public:
  virtual ~RedisReplyHandler() = default;
  virtual void on_reply(RedisConnection& conn, const redisReply* reply, const std::string& error) = 0;
};

class RedisConnection {
 public:
  // This thread's connection to host:port (an IP literal or a DNS name,
  // resolved through Asio's resolver when connecting), created on first
  // use with the caller's executor (a worker's io_context); commands sent
  // while a name is being looked up wait for it. `stall_ms`: how
  // long the oldest command may stay unanswered before the connection
  // counts as dead. Connections unused for a minute are closed here (an
  // address a reload replaced).
  // With a password, AUTH comes first on each new connection, then SELECT
  // when db is not 0; Redis refusing either drops the connection (as down).
  static RedisConnection& for_thread(const net::Executor& ex, const config::RateLimit::Redis& server,
                                     int64_t stall_ms);

  RedisConnection(const net::Executor& ex, const config::RateLimit::Redis& server);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Queues one command (argv: binary-safe arguments); `handler` gets the
  // reply later from the loop, never from inside send(). Returns false,
  // with `error` set, when the server is down (in back-off) or too many
  // commands wait already: the caller fails at once.
  bool send(std::initializer_list<std::string_view> argv, std::shared_ptr<RedisReplyHandler> handler,
            std::string& error);

  // "host:port" as the config names it, for messages.
  const std::string& name() const { return name_; }
  // Why the connection last failed ("" before any failure).
  const std::string& last_error() const { return last_error_; }

  // (Called by the hiredis callbacks in the .cc.)
  void on_connect_result(const redisAsyncContext* ac, bool ok, const char* why);
  void on_lost(const redisAsyncContext* ac, const char* why);
  void on_answer();
  void setup_refused(std::string why) { down(std::move(why)); }

 private:
  bool ensure_connected(std::string& error);
  void connect_to(const std::string& ip);
  bool send_argv(const std::string_view* argv, int n, std::shared_ptr<RedisReplyHandler>& handler,
                 std::string& error);
  bool queue(const std::string_view* argv, int n, std::shared_ptr<RedisReplyHandler>& handler,
             std::string& error);
  void resolved(std::vector<std::string> addrs, const std::string& error);
  void down(std::string why);

  net::Executor ex_;
  std::string host_;
  uint16_t port_;
  std::string password_;
  uint32_t db_;
  std::string name_;
  std::vector<std::string> addrs_;  // a DNS name's addresses, as last resolved
  size_t next_addr_ = 0;            // the one to connect to
  bool resolving_ = false;
  // Commands sent while resolving, queued in hiredis once connecting.
  struct Held {
    std::vector<std::string> argv;
    std::shared_ptr<RedisReplyHandler> handler;
  };
  std::vector<Held> held_;
  redisAsyncContext* ac_ = nullptr;
  int64_t down_until_ms_ = 0;       // steady ms; no connection attempt before
  int64_t backoff_ms_ = 100;
  std::string last_error_;
  std::deque<int64_t> sent_at_;     // steady ms of each unanswered command, oldest first
  bool closing_ = false;
  std::shared_ptr<bool> alive_;     // for the resolver's completion
 public:
  int64_t stall_ms = 1000;
  int64_t last_used_ms = 0;
};

}  // namespace gh::policy
