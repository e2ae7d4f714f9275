#include "policy/policy.h"

namespace gh::policy {

void FieldEdits::remove(std::string_view name) {
  if (!drops(name)) removed_.push_back(name);
  // A later remove also drops what an earlier append added.
  std::erase_if(added_, [&](const http::Field& f) { return http::iequals(f.name, name); });
}

void FieldEdits::append(std::string_view name, std::string_view value) {
  added_.push_back(http::Field{name, value});
}

void FieldEdits::append_copy(std::string_view name, std::string value) {
  owned_.push_front(std::move(value));
  added_.push_back(http::Field{name, owned_.front()});
}

bool FieldEdits::drops(std::string_view name) const {
  for (std::string_view r : removed_)
    if (r.size() == name.size() && http::iequals(r, name)) return true;
  return false;
}

void FieldEdits::clear() {
  removed_.clear();
  added_.clear();
  owned_.clear();
}

}  // namespace gh::policy
