// server_header and obfuscate: what a response says about the software and
// the machines behind gatehouse. A backend's Server is always replaced (its
// name and version help an attacker pick exploits); obfuscate also drops the
// framework banners and keeps backend addresses out of Proxy-Status.
#include "policy/kinds.h"

namespace gh::policy {
namespace {

class ResponseIdentity final : public Policy {
 public:
  ResponseIdentity(std::string server, bool obfuscate)
      : server_(std::move(server)), obfuscate_(obfuscate) {}
  const char* name() const override { return obfuscate_ ? "obfuscate" : "server_header"; }
  void static_response_edits(FieldEdits& out) const override {
    out.remove("server");
    if (!server_.empty()) out.append("Server", server_);
    if (obfuscate_) {
      for (std::string_view n : {"x-powered-by", "x-aspnet-version", "x-aspnetmvc-version",
                                 "x-runtime", "x-generator"})
        out.remove(n);
    }
  }
  bool hides_backends() const override { return obfuscate_; }

 private:
  std::string server_;
  bool obfuscate_;
};

}  // namespace

std::unique_ptr<Policy> make_response_identity(const std::string& server_header, bool obfuscate) {
  return std::make_unique<ResponseIdentity>(server_header, obfuscate);
}

}  // namespace gh::policy
