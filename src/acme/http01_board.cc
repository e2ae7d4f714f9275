#include "acme/http01_board.h"

#include <mutex>

namespace gh::acme {

Http01Board& Http01Board::process() {
  static Http01Board board;
  return board;
}

void Http01Board::add(const std::string& token, const std::string& key_authorization) {
  std::unique_lock lk(mu_);
  tokens_[token] = key_authorization;
  pending_.store(tokens_.size(), std::memory_order_release);
}

void Http01Board::remove(const std::string& token) {
  std::unique_lock lk(mu_);
  tokens_.erase(token);
  pending_.store(tokens_.size(), std::memory_order_release);
}

std::optional<std::string> Http01Board::answer(std::string_view path) const {
  if (pending_.load(std::memory_order_relaxed) == 0) return std::nullopt;
  if (!path.starts_with(kHttp01Prefix)) return std::nullopt;
  std::string_view token = path.substr(kHttp01Prefix.size());
  if (size_t q = token.find('?'); q != std::string_view::npos) token = token.substr(0, q);
  if (token.empty()) return std::nullopt;
  std::shared_lock lk(mu_);
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gh::acme
