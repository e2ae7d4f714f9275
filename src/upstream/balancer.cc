// make_balancer: splits the backends into primaries and backups and stacks
// one tier of the chosen algorithm over the other.
#include "upstream/balancer.h"

#include <utility>

#include "upstream/balancer_kinds.h"

namespace gh::upstream {
namespace {

// Backups get their own tier (own rotation, own ring) so that primaries going
// down and back up never disturbs how keys spread over the backups.
template <class Tier>
class Tiered final : public Balancer {
 public:
  Tiered(std::vector<Backend*> primaries, std::vector<Backend*> backups)
      : primary_(std::move(primaries)), backup_(std::move(backups)) {}

  Backend* pick(const PickContext& ctx) override {
    if (Backend* b = primary_.pick(ctx)) return b;
    return backup_.pick(ctx);
  }

 private:
  Tier primary_;
  Tier backup_;
};

template <class Tier>
std::unique_ptr<Balancer> make_tiered(std::vector<Backend*> backends) {
  std::vector<Backend*> primaries, backups;
  for (Backend* b : backends) (b->backup ? backups : primaries).push_back(b);
  return std::make_unique<Tiered<Tier>>(std::move(primaries), std::move(backups));
}

}  // namespace

std::unique_ptr<Balancer> make_balancer(config::Balance kind, std::vector<Backend*> backends) {
  switch (kind) {
    case config::Balance::round_robin:
      return make_tiered<detail::RoundRobinTier>(std::move(backends));
    case config::Balance::least_conn:
      return make_tiered<detail::LeastConnTier>(std::move(backends));
    case config::Balance::ip_hash:
      return make_tiered<detail::RingTier>(std::move(backends));
    case config::Balance::random:
      return make_tiered<detail::RandomTier>(std::move(backends));
  }
  // An out-of-range enum value: round robin is the documented default.
  return make_tiered<detail::RoundRobinTier>(std::move(backends));
}

}  // namespace gh::upstream
