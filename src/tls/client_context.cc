#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include <mutex>
#include <unordered_map>

#include "tls/certificates.h"
#include "tls/ex_data.h"
#include "tls/ossl.h"

namespace gh::tls {
namespace {

// Routes have few backends; the bound only guards against a pathological
// config or a bug growing the map without end.
constexpr size_t kMaxCachedSessions = 4096;

constexpr unsigned char kClientAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The last resumable session per backend host:port. Owned by the SSL_CTX
// (see ex_data.h), so tickets arriving on a pooled connection after a reload
// dropped the ClientContext still land somewhere valid.
struct SessionCache {
  std::mutex mu;  // once per new upstream connection and per ticket, not per request
  std::unordered_map<std::string, SSL_SESSION*> by_peer;

  SessionCache() = default;
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;
  ~SessionCache() {
    for (auto& kv : by_peer) SSL_SESSION_free(kv.second);
  }
  // Takes over the caller's reference on `s`.
  void put(const std::string& key, SSL_SESSION* s) {
    SSL_SESSION* old = nullptr;
    {
      std::lock_guard lock(mu);
      if (by_peer.size() >= kMaxCachedSessions && by_peer.find(key) == by_peer.end()) {
        for (auto& kv : by_peer) SSL_SESSION_free(kv.second);
        by_peer.clear();
      }
      SSL_SESSION*& slot = by_peer[key];
      old = slot;
      slot = s;
    }
    if (old) SSL_SESSION_free(old);
  }
  // A new reference, or nullptr.
  SSL_SESSION* get(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = by_peer.find(key);
    if (it == by_peer.end()) return nullptr;
    SSL_SESSION_up_ref(it->second);
    return it->second;
  }
  void erase(const std::string& key) {
    SSL_SESSION* old = nullptr;
    {
      std::lock_guard lock(mu);
      auto it = by_peer.find(key);
      if (it == by_peer.end()) return;
      old = it->second;
      by_peer.erase(it);
    }
    SSL_SESSION_free(old);
  }
};

// Which cache entry a connection's sessions belong to; set by prepare().
struct PeerKey {
  std::string key;
};

std::string peer_key(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

// Called by OpenSSL for every new session the server grants: at the end of a
// TLS 1.2 handshake, and for each TLS 1.3 NewSessionTicket, which arrives
// after the handshake while the connection is read. 1: we keep the reference.
int on_new_session(SSL* ssl, SSL_SESSION* sess) {
  const PeerKey* key = ssl_get<PeerKey>(ssl);
  SessionCache* cache = ctx_get<SessionCache>(SSL_get_SSL_CTX(ssl));
  if (key == nullptr || cache == nullptr || SSL_SESSION_is_resumable(sess) != 1) return 0;
  cache->put(key->key, sess);
  return 1;
}

// "[::1]" -> "::1"; "example.com." -> "example.com".
std::string bare_host(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.size() > 1 && h.back() == '.') h.pop_back();
  return h;
}

// An IPv4 or IPv6 literal; a zone ("fe80::1%eth0") is dropped from `ip`.
bool ip_literal(const std::string& host, std::string& ip) {
  unsigned char buf[16];
  std::string h = host.substr(0, host.find('%'));
  if (inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1) {
    ip = h;
    return true;
  }
  return false;
}

bool set_trust(SSL_CTX* ctx, const config::UpstreamTls& tls, std::string& err) {
  if (!tls.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return true;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  ERR_clear_error();
  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      err = "cannot load the system CA store: " + take_ossl_error();
      return false;
    }
    return true;
  }
  if (!check_ca_file(tls.ca_file, err)) return false;
  if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1) {
    err = tls.ca_file + ": cannot load CA certificates: " + take_ossl_error();
    return false;
  }
  // The operator named these anchors: trust an intermediate (or a pinned
  // leaf) in ca_file without requiring its root too.
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
  return true;
}

bool set_client_cert(SSL_CTX* ctx, const config::UpstreamTls& tls, std::string& err) {
  if (tls.cert_file.empty() && tls.key_file.empty()) return true;
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    err = (tls.cert_file.empty() ? tls.key_file : tls.cert_file) +
          ": tls cert_file and key_file must be given together";
    return false;
  }
  std::optional<CertKey> ck = load_cert_key(tls.cert_file, tls.key_file, err);
  return ck && install_cert_key(ctx, *ck, tls.cert_file, err);
}

}  // namespace

std::shared_ptr<ClientContext> ClientContext::create(const config::UpstreamTls& tls,
                                                     std::string& err) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    err = "cannot create a TLS context: " + take_ossl_error();
    return nullptr;
  }
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    err = "TLS settings rejected by OpenSSL: " + take_ossl_error();
    return nullptr;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (!set_trust(ctx.get(), tls, err) || !set_client_cert(ctx.get(), tls, err)) return nullptr;
  // Backends that also speak h2 must not pick it: we speak HTTP/1.1 to them.
  if (SSL_CTX_set_alpn_protos(ctx.get(), kClientAlpnHttp11, sizeof kClientAlpnHttp11) != 0) {  // 0 = success
    err = "cannot set ALPN: " + take_ossl_error();
    return nullptr;
  }
  // Client-side caching through our own store only (keyed by backend, not
  // by what OpenSSL would pick).
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), on_new_session);
  if (!ctx_attach(ctx.get(), std::make_unique<SessionCache>())) {
    err = "cannot attach the session cache to the TLS context";
    return nullptr;
  }
  config::UpstreamTls settings = tls;
  settings.sni = bare_host(tls.sni);  // "name." is the same name; SNI never carries the dot
  return std::make_shared<ClientContext>(boost::asio::ssl::context(ctx.release()), settings);
}

bool ClientContext::prepare(SSL* ssl, const std::string& host_in, uint16_t port) const {
  if (ssl == nullptr) return false;
  const std::string host = bare_host(host_in);
  if (host.empty()) return false;
  std::string ip;
  const bool is_ip = ip_literal(host, ip);
  const bool by_name = !sni_.empty() || !is_ip;
  const std::string& name = sni_.empty() ? host : sni_;
  ERR_clear_error();
  // RFC 6066: SNI carries host names only, never IP literals.
  if (by_name && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    ERR_clear_error();
    return false;
  }
  if (verify_) {
    bool ok;
    if (by_name) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name.c_str()) == 1;
    } else {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.c_str()) == 1;
    }
    if (!ok) {
      ERR_clear_error();
      return false;
    }
  }
  std::string key = peer_key(host, port);
  SessionCache* cache = ctx_get<SessionCache>(SSL_get_SSL_CTX(ssl));
  if (SSL_SESSION* s = cache ? cache->get(key) : nullptr) {
    // A session that cannot be set only costs a full handshake.
    if (SSL_set_session(ssl, s) != 1) ERR_clear_error();
    SSL_SESSION_free(s);
  }
  if (!ssl_attach(ssl, std::make_unique<PeerKey>(PeerKey{std::move(key)}))) {
    ERR_clear_error();
    return false;
  }
  return true;
}

void ClientContext::save_session(SSL* ssl) const {
  if (ssl == nullptr) return;
  const PeerKey* key = ssl_get<PeerKey>(ssl);
  SessionCache* cache = ctx_get<SessionCache>(SSL_get_SSL_CTX(ssl));
  if (key == nullptr || cache == nullptr) return;
  SSL_SESSION* s = SSL_get1_session(ssl);
  if (s == nullptr) return;
  if (SSL_SESSION_is_resumable(s) != 1) {
    SSL_SESSION_free(s);
    return;
  }
  cache->put(key->key, s);
}

void ClientContext::forget_session(const std::string& host, uint16_t port) const {
  auto& ctx = const_cast<boost::asio::ssl::context&>(ctx_);
  if (SessionCache* cache = ctx_get<SessionCache>(ctx.native_handle())) {
    cache->erase(peer_key(bare_host(host), port));
  }
}

std::string ClientContext::verify_error(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE) return "";
  long r = SSL_get_verify_result(ssl);
  if (r == X509_V_OK) return "";
  return X509_verify_cert_error_string(r);
}

}  // namespace gh::tls
