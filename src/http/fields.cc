#include "http/exchange.h"
#include "http/token.h"

namespace gh::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view find_field(std::span<const Field> fields, std::string_view name, bool* found) {
  for (const Field& f : fields) {
    if (f.name.size() == name.size() && iequals(f.name, name)) {
      if (found) *found = true;
      return f.value;
    }
  }
  if (found) *found = false;
  return {};
}

}  // namespace gh::http
