// The response cache's memory store: stored responses by primary key (see
// cache/key.h), each key holding its Vary variants, evicted least recently
// used first (across the whole store) when the bytes held would pass
// `max_bytes`. One store serves every worker of the process (a hit on one
// worker is a hit for all), behind mutexes sharded by key, held only to
// find, insert or unlink an entry:
// entries are immutable and shared, so a response is served from the
// store without a lock and survives its own eviction until it is sent.
#pragma once

#include "core/string_map.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/freshness.h"
#include "http/exchange.h"

namespace gh::cache {

// One stored response, immutable once in the store.
struct Entry {
  std::string primary_key;
  std::string secondary_key;   // cache/key.h; empty without Vary
  int status = 200;
  std::vector<OwnedField> fields;
  std::string body;
  int64_t request_time = 0;    // unix seconds, as in Stored
  int64_t response_time = 0;
  // Which of the route's backends sent it (an index the caller gives
  // meaning to: the forward path rewrites Location against that backend).
  uint32_t origin = 0;

  // What the entry counts for against the store's limits: body, fields
  // and keys, plus a fixed overhead per entry (bytes).
  size_t bytes() const;
  // The fields as views, for the rules of cache/freshness.h: made by seal()
  // once `fields` is final (an entry is sealed before it is stored), so a
  // lookup or a hit reads them without allocating.
  std::span<const http::Field> field_views() const { return views_; }
  void seal();
  bool sealed() const { return views_.size() == fields.size(); }

 private:
  std::vector<http::Field> views_;
};

struct StoreStats {
  uint64_t hits = 0;        // lookups that found a variant
  uint64_t misses = 0;      // lookups that found none
  uint64_t stores = 0;      // entries inserted
  uint64_t evictions = 0;   // entries dropped to make room
  uint64_t bytes = 0;       // held now
  uint64_t entries = 0;     // held now
};

class Store {
 public:
  // `max_bytes`: the whole store; `max_object`: one entry (larger ones are
  // refused by insert, so the caller streams them uncached). Both in bytes,
  // both above 0.
  Store(size_t max_bytes, size_t max_object);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The variant of `primary_key` that `request_fields` select (RFC 9111
  // 4.1), most recently stored first; nullptr when none. A hit makes the
  // entry the most recently used. `vary_miss` (optional) is set when the
  // key has stored variants but none matches (RFC 9211 fwd=vary-miss).
  std::shared_ptr<const Entry> lookup(std::string_view primary_key,
                                      std::span<const http::Field> request_fields,
                                      bool* vary_miss = nullptr);

  // Stores `e` (sealed), replacing the variant with the same secondary key
  // (4.3.4: the newer response). False (nothing stored) when its body is
  // larger than max_object, it is larger than max_bytes, or it is not
  // sealed. A key keeps at most kMaxVariants
  // variants (the least recently used goes), so a Vary on a field clients
  // choose freely cannot grow one key's list, and every lookup's scan,
  // without bound. Evicts least recently used entries as needed; under
  // concurrent inserts the total may pass max_bytes by about one entry.
  static constexpr size_t kMaxVariants = 32;
  bool insert(std::shared_ptr<const Entry> e);

  // Drops every variant of `primary_key` (RFC 9111 4.4 invalidation, purge
  // by URL). Returns how many entries went.
  size_t erase(std::string_view primary_key);
  // Drops every entry whose primary key starts with `prefix` (purge by
  // route). Returns how many entries went.
  size_t erase_prefix(std::string_view prefix);

  StoreStats stats() const;
  size_t max_object() const { return max_object_; }

 private:
  // Shards only spread the lock: the byte budget and the LRU order are the
  // store's as a whole.
  static constexpr size_t kShards = 16;
  struct Node {
    std::shared_ptr<const Entry> entry;
    uint64_t used = 0;   // the store's clock at its last use: the LRU order across shards
  };
  using Lru = std::list<Node>;
  struct Shard {
    std::mutex mu;
    Lru lru;   // most recently used at the front
    // Primary key -> its variants' positions in `lru`.
    core::StringMap<std::vector<Lru::iterator>> by_key;
  };
  Shard& shard_for(std::string_view primary_key);
  // Removes the entry at `it` from `s` (its key's variant list, the LRU, the
  // byte count). The caller holds s.mu.
  void unlink(Shard& s, Lru::iterator it);
  // Evicts the least recently used entries (the oldest shard tail first)
  // until `need` more bytes fit in max_bytes. Takes one shard lock at a time.
  void make_room(size_t need);

  std::vector<std::unique_ptr<Shard>> shards_;
  size_t max_bytes_;
  size_t max_object_;
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> hits_{0}, misses_{0}, stores_{0}, evictions_{0};
};

}  // namespace gh::cache
