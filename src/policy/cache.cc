#include "policy/cache.h"

namespace gh::policy {

CacheRule::CacheRule(const config::Cache& conf)
    : store_(std::make_unique<cache::Store>(conf.max_size, conf.max_object)),
      max_object_(conf.max_object),
      max_size_(conf.max_size),
      table_(std::make_unique<Table>()) {}

bool CacheRule::Fill::add_waiter(net::Executor ex, std::shared_ptr<net::asio::steady_timer> t) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  waiters_.emplace_back(ex, std::move(t));
  return true;
}

bool CacheRule::Fill::stored() const {
  std::lock_guard lock(mu_);
  return stored_;
}

CacheRule::Join CacheRule::join(std::string_view primary_key, int64_t now_ms,
                                std::shared_ptr<Fill>& fill) const {
  Table& t = *table_;
  std::lock_guard lock(t.mu);
  if (auto p = t.pass_until.find(primary_key); p != t.pass_until.end()) {
    if (now_ms < p->second) return Join::pass;
    t.pass_until.erase(p);
  }
  if (auto f = t.fills.find(primary_key); f != t.fills.end()) {
    fill = f->second;
    return Join::wait;
  }
  fill = std::make_shared<Fill>();
  t.fills.emplace(std::string(primary_key), fill);
  return Join::lead;
}

std::shared_ptr<CacheRule::Flight> CacheRule::begin_flight(std::string_view primary_key) const {
  auto f = std::make_shared<Flight>();
  Table& t = *table_;
  std::lock_guard lock(t.mu);
  auto it = t.flights.find(primary_key);
  if (it == t.flights.end()) it = t.flights.emplace(std::string(primary_key), std::vector<std::shared_ptr<Flight>>{}).first;
  it->second.push_back(f);
  return f;
}

void CacheRule::end_flight(std::string_view primary_key, const std::shared_ptr<Flight>& flight) const {
  Table& t = *table_;
  std::lock_guard lock(t.mu);
  auto it = t.flights.find(primary_key);
  if (it == t.flights.end()) return;
  std::erase(it->second, flight);
  if (it->second.empty()) t.flights.erase(it);
}

void CacheRule::invalidate(std::string_view primary_key) const {
  Table& t = *table_;
  std::lock_guard lock(t.mu);
  if (auto f = t.fills.find(primary_key); f != t.fills.end()) t.fills.erase(f);
  if (auto it = t.flights.find(primary_key); it != t.flights.end()) {
    for (const auto& f : it->second) f->voided_.store(true, std::memory_order_release);
    t.flights.erase(it);   // (voided: their end_flight finds nothing, which is fine)
  }
}

void CacheRule::finish(std::string_view primary_key, const std::shared_ptr<Fill>& fill,
                       bool stored, int64_t now_ms) const {
  Table& t = *table_;
  {
    std::lock_guard lock(t.mu);
    if (auto f = t.fills.find(primary_key); f != t.fills.end() && f->second == fill)
      t.fills.erase(f);
    if (!stored) {
      if (t.pass_until.size() >= 4096) {
        // (Bounded: expired marks go first, all of them if need be.)
        std::erase_if(t.pass_until, [&](const auto& kv) { return kv.second <= now_ms; });
        if (t.pass_until.size() >= 4096) t.pass_until.clear();
      }
      t.pass_until[std::string(primary_key)] = now_ms + kPassMs;
    } else {
      t.pass_until.erase(std::string(primary_key));
    }
  }
  std::vector<std::pair<net::Executor, std::shared_ptr<net::asio::steady_timer>>> waiters;
  {
    std::lock_guard lock(fill->mu_);
    fill->done_ = true;
    fill->stored_ = stored;
    waiters.swap(fill->waiters_);
  }
  // Each timer is cancelled on its own executor's thread (timers are not
  // thread-safe); the handler keeps it alive until then.
  for (auto& [ex, timer] : waiters)
    net::asio::post(ex, [tm = std::move(timer)] { tm->cancel(); });
}

}  // namespace gh::policy
