#include "proxy/retry.h"

namespace gh::proxy {

bool is_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" ||
         m == "DELETE";
}

bool may_retry(TryProgress progress, std::string_view method, bool body_replayable) {
  switch (progress) {
    case TryProgress::not_sent:
    case TryProgress::head_only:
      return true;
    case TryProgress::sent:
      return body_replayable && is_idempotent(method);
  }
  return false;
}

}  // namespace gh::proxy
