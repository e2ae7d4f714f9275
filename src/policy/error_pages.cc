// error_pages and intercept_errors: a page (read at load) sent as the body
// of an error response. gatehouse's own errors always get their page; a
// backend's 4xx/5xx only with intercept_errors. An exact status wins over
// its class (502 over 5xx), as in nginx's error_page.
#include "policy/kinds.h"

namespace gh::policy {
namespace {

class ErrorPages final : public Policy {
 public:
  ErrorPages(const std::vector<config::ErrorPage>& pages, bool intercept) : intercept_(intercept) {
    for (const auto& p : pages) pages_.push_back(Entry{p.lo, p.hi, p.content_type, p.body});
    for (auto& e : pages_) e.page = Page{e.content_type, e.body};
  }
  const char* name() const override { return "error_pages"; }
  const Page* error_page(int status, bool from_backend) const override {
    if (from_backend && !intercept_) return nullptr;
    const Entry* best = nullptr;
    for (const Entry& e : pages_) {
      if (unsigned(status) < e.lo || unsigned(status) > e.hi) continue;
      if (!best || e.hi - e.lo < best->hi - best->lo) best = &e;
    }
    return best ? &best->page : nullptr;
  }

 private:
  struct Entry {
    unsigned lo, hi;
    std::string content_type, body;
    Page page{};
  };
  std::vector<Entry> pages_;
  bool intercept_;
};

}  // namespace

std::unique_ptr<Policy> make_error_pages(const std::vector<config::ErrorPage>& pages, bool intercept) {
  return std::make_unique<ErrorPages>(pages, intercept);
}

}  // namespace gh::policy
