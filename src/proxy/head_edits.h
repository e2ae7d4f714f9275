// The policies' field edits as the head writers apply them: the
// pipeline's fixed edits plus one request's own, for every head gatehouse
// writes (upstream requests, proxied responses, its own responses).
#pragma once

#include <string>
#include <string_view>

#include "policy/policy.h"

namespace gh::proxy {

struct HeadEdits {
  const policy::FieldEdits& fixed;     // the pipeline's, fixed at load
  const policy::FieldEdits& dynamic;   // this request's, from the request phase
  bool any = !fixed.empty() || !dynamic.empty();

  bool drops(std::string_view name) const {
    return any && (fixed.drops(name) || dynamic.drops(name));
  }
  // Calls fn(name, value) for each added field, fixed ones first.
  template <class Fn>
  void for_each_added(Fn&& fn) const {
    if (!any) return;
    for (const policy::FieldEdits* e : {&fixed, &dynamic})
      for (const auto& f : e->added()) fn(std::string_view(f.name), std::string_view(f.value));
  }
};

}  // namespace gh::proxy
