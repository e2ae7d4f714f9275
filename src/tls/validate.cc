// `gatehouse check` for TLS files: the same loading the real contexts do,
// reported at the YAML node that named each file.
#include <set>

#include "tls/certificates.h"
#include "tls/ticket_key_file.h"

namespace gh::tls {
namespace {

struct Collector {
  const config::Config& cfg;
  std::vector<config::Error> errors;
  std::set<std::string> seen;  // one report per distinct problem, however many routes share a file

  void add(const config::Mark& at, std::string message) {
    if (!seen.insert(message).second) return;
    errors.push_back(config::Error{cfg.file, at.line, at.col, std::move(message)});
  }
  void pair(const config::Mark& at, const std::string& cert, const std::string& key) {
    std::string err;
    std::optional<CertKey> ck = load_cert_key(cert, key, err);
    if (!ck) {
      add(at, err);
      return;
    }
    // What OpenSSL itself refuses (e.g. a key below the security level).
    SslCtxPtr ctx(SSL_CTX_new(TLS_method()));
    if (ctx && !install_cert_key(ctx.get(), *ck, cert, err)) add(at, err);
    ERR_clear_error();
  }
};

}  // namespace

std::vector<config::Error> validate(const config::Config& cfg) {
  Collector c{cfg, {}, {}};
  if (cfg.ssl.enabled) {
    if (cfg.ssl.cert_file.empty() || cfg.ssl.key_file.empty()) {
      c.add(cfg.ssl.mark, "ssl is enabled but cert_file or key_file is missing");
    } else {
      c.pair(cfg.ssl.mark, cfg.ssl.cert_file, cfg.ssl.key_file);
    }
    for (const config::CertPair& p : cfg.ssl.certificates) c.pair(p.mark, p.cert_file, p.key_file);
    if (!cfg.ssl.ticket_key_file.empty()) {
      std::string err;
      if (!load_ticket_key_file(cfg.ssl.ticket_key_file, err)) c.add(cfg.ssl.ticket_key_file_mark, err);
    }
  }
  for (const config::Route& r : cfg.server.reverse_proxy) {
    if (!r.ssl) continue;
    const config::UpstreamTls& t = r.tls;
    std::string err;
    if (t.verify && !t.ca_file.empty() && !check_ca_file(t.ca_file, err)) c.add(r.mark, err);
    if (t.cert_file.empty() != t.key_file.empty()) {
      c.add(r.mark, (t.cert_file.empty() ? t.key_file : t.cert_file) +
                        ": tls cert_file and key_file must be given together");
    } else if (!t.cert_file.empty()) {
      c.pair(r.mark, t.cert_file, t.key_file);
    }
  }
  return std::move(c.errors);
}

}  // namespace gh::tls
