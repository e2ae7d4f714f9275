#include "policy/blocking.h"

#include <algorithm>
#include <thread>

namespace gh::policy {

net::asio::thread_pool& blocking_pool() {
  static net::asio::thread_pool pool(std::max(2u, std::thread::hardware_concurrency()));
  return pool;
}

}  // namespace gh::policy
