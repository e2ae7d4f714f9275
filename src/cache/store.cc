#include "cache/store.h"

#include <algorithm>

#include "cache/key.h"

namespace gh::cache {

namespace {
// Bookkeeping per entry beyond its strings: the list node, the shared_ptr's
// control block, the key map's share (measured order of magnitude).
constexpr size_t kEntryOverhead = 256;
}  // namespace

size_t Entry::bytes() const {
  size_t n = kEntryOverhead + body.capacity() + primary_key.size() + secondary_key.size();
  for (const OwnedField& f : fields) n += f.name.size() + f.value.size() + 2 * sizeof(std::string);
  return n;
}

void Entry::seal() {
  views_.clear();
  views_.reserve(fields.size());
  for (const OwnedField& f : fields) views_.push_back(http::Field{f.name, f.value});
}

Store::Store(size_t max_bytes, size_t max_object) {
  max_bytes_ = std::max<size_t>(max_bytes, 1);
  max_object_ = std::clamp<size_t>(max_object, 1, max_bytes_);
  shards_.reserve(kShards);
  for (size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
}

Store::Shard& Store::shard_for(std::string_view primary_key) {
  return *shards_[std::hash<std::string_view>{}(primary_key) % shards_.size()];
}

void Store::unlink(Shard& s, Lru::iterator it) {
  const Entry& e = *it->entry;
  auto k = s.by_key.find(std::string_view(e.primary_key));
  if (k != s.by_key.end()) {
    std::erase(k->second, it);
    if (k->second.empty()) s.by_key.erase(k);
  }
  bytes_.fetch_sub(std::min(bytes_.load(std::memory_order_relaxed), e.bytes()),
                   std::memory_order_relaxed);
  s.lru.erase(it);
}

std::shared_ptr<const Entry> Store::lookup(std::string_view primary_key,
                                           std::span<const http::Field> request_fields,
                                           bool* vary_miss) {
  if (vary_miss) *vary_miss = false;
  Shard& s = shard_for(primary_key);
  std::lock_guard lock(s.mu);
  auto k = s.by_key.find(primary_key);
  if (k != s.by_key.end()) {
    // Newest variant first: a newer response for the same selection wins.
    for (auto pos = k->second.rbegin(); pos != k->second.rend(); ++pos) {
      const Entry& e = *(*pos)->entry;
      if (!variant_matches(e.secondary_key, e.field_views(), request_fields)) continue;
      s.lru.splice(s.lru.begin(), s.lru, *pos);   // (iterators stay valid)
      (*pos)->used = clock_.fetch_add(1, std::memory_order_relaxed) + 1;
      hits_.fetch_add(1, std::memory_order_relaxed);
      return (*pos)->entry;
    }
    if (vary_miss) *vary_miss = true;
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void Store::make_room(size_t need) {
  while (bytes_.load(std::memory_order_relaxed) + need > max_bytes_) {
    Shard* victim = nullptr;
    uint64_t oldest = UINT64_MAX;
    for (auto& sp : shards_) {
      std::lock_guard lock(sp->mu);
      if (!sp->lru.empty() && sp->lru.back().used < oldest) {
        oldest = sp->lru.back().used;
        victim = sp.get();
      }
    }
    if (!victim) return;
    std::lock_guard lock(victim->mu);
    if (victim->lru.empty()) continue;   // (emptied meanwhile: look again)
    unlink(*victim, std::prev(victim->lru.end()));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Store::insert(std::shared_ptr<const Entry> e) {
  const size_t size = e->bytes();
  if (!e->sealed()) return false;
  // (max_object bounds the body, as users count it; max_bytes bounds it all.)
  if (e->body.size() > max_object_ || size > max_bytes_) return false;
  Shard& s = shard_for(e->primary_key);
  auto drop_same_variant = [&] {
    if (auto k = s.by_key.find(std::string_view(e->primary_key)); k != s.by_key.end()) {
      for (Lru::iterator it : k->second) {
        if (it->entry->secondary_key == e->secondary_key) {
          unlink(s, it);
          break;
        }
      }
    }
  };
  {
    std::lock_guard lock(s.mu);
    drop_same_variant();
  }
  make_room(size);
  std::lock_guard lock(s.mu);
  drop_same_variant();   // (another insert of it may have come meanwhile)
  std::vector<Lru::iterator>& variants = s.by_key[e->primary_key];
  if (variants.size() >= kMaxVariants) {
    auto oldest = std::min_element(variants.begin(), variants.end(),
                                   [](Lru::iterator a, Lru::iterator b) { return a->used < b->used; });
    unlink(s, *oldest);   // (may erase the map's entry when it was the last)
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  s.lru.push_front(Node{e, clock_.fetch_add(1, std::memory_order_relaxed) + 1});
  s.by_key[e->primary_key].push_back(s.lru.begin());
  bytes_.fetch_add(size, std::memory_order_relaxed);
  stores_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t Store::erase(std::string_view primary_key) {
  Shard& s = shard_for(primary_key);
  std::lock_guard lock(s.mu);
  auto k = s.by_key.find(primary_key);
  if (k == s.by_key.end()) return 0;
  std::vector<Lru::iterator> its = k->second;
  for (Lru::iterator it : its) unlink(s, it);
  return its.size();
}

size_t Store::erase_prefix(std::string_view prefix) {
  size_t n = 0;
  for (auto& sp : shards_) {
    Shard& s = *sp;
    std::lock_guard lock(s.mu);
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto next = std::next(it);
      if (std::string_view(it->entry->primary_key).starts_with(prefix)) {
        unlink(s, it);
        ++n;
      }
      it = next;
    }
  }
  return n;
}

StoreStats Store::stats() const {
  StoreStats st;
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.stores = stores_.load(std::memory_order_relaxed);
  st.evictions = evictions_.load(std::memory_order_relaxed);
  st.bytes = bytes_.load(std::memory_order_relaxed);
  for (const auto& sp : shards_) {
    std::lock_guard lock(sp->mu);
    st.entries += sp->lru.size();
  }
  return st;
}

}  // namespace gh::cache
