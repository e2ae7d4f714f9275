#include "tls/server_context.h"

#include "tls/certificates.h"
#include "tls/ex_data.h"
#include "tls/ocsp_stapler.h"
#include "tls/ossl.h"
#include "tls/sni_map.h"
#include "tls/ticket_keys.h"

namespace gh::tls {
namespace {

// TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate" minus
// finite-field DHE). Also the set RFC 9113 requires of h2.
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kCiphers13 =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Same on every context, so a session survives the SNI switch of SSL_CTX.
constexpr unsigned char kSessionIdContext[] = "gatehouse";

// ALPN lists in wire format (length-prefixed), in the server's order of preference.
struct AlpnList {
  const unsigned char* data;
  unsigned len;
};
constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kH2Http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
const AlpnList kAlpnHttp11{kHttp11, sizeof kHttp11};
const AlpnList kAlpnH2Http11{kH2Http11, sizeof kH2Http11};

// Picks our most preferred protocol the client also offers. A client list
// without any of them gets the no_application_protocol alert (RFC 7301 3.2).
// `in` is walked with bounds checks although OpenSSL has validated it.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const AlpnList*>(arg);
  for (unsigned i = 0; i < ours->len; i += 1u + ours->data[i]) {
    const unsigned char* want = ours->data + i + 1;
    unsigned want_len = ours->data[i];
    for (unsigned j = 0; j < inlen;) {
      unsigned len = in[j];
      if (len == 0 || j + 1 + len > inlen) break;
      if (len == want_len && std::equal(want, want + want_len, in + j + 1)) {
        *out = in + j + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// The SNI table, owned by the default SSL_CTX (see ex_data.h). Holds a
// reference on every other context; the default one is its owner.
struct SniState {
  SniMap names;
  SSL_CTX* default_ctx = nullptr;   // not referenced: it owns this
  std::vector<SSL_CTX*> others;     // certificates[0..], referenced
  SniState() = default;
  SniState(const SniState&) = delete;
  SniState& operator=(const SniState&) = delete;
  ~SniState() {
    for (SSL_CTX* c : others) SSL_CTX_free(c);
  }
  size_t index_for(std::string_view name) const {
    if (name.empty()) return 0;
    return names.find(name).value_or(0);
  }
};

// Runs for every ClientHello (OpenSSL 1.1.1+ calls it with or without SNI).
// Unknown or absent names keep the default certificate rather than failing:
// clients that omit SNI or probe by IP still get an answer.
int on_servername(SSL* ssl, int* alert, void* arg) {
  const auto* st = static_cast<const SniState*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  size_t idx = st->index_for(name ? std::string_view(name) : std::string_view());
  SSL_CTX* target = idx == 0 ? st->default_ctx : st->others[idx - 1];
  if (SSL_get_SSL_CTX(ssl) != target && SSL_set_SSL_CTX(ssl, target) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

// Protocol floor, ciphers, options and resumption: identical on every
// context, since after an SNI switch some settings come from the new one.
bool configure(SSL_CTX* ctx, const AlpnList* alpn, std::string& err) {
  ERR_clear_error();
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_cipher_list(ctx, kCiphers12) == 1 &&
            SSL_CTX_set_ciphersuites(ctx, kCiphers13) == 1 &&
            SSL_CTX_set1_groups_list(ctx, kGroups) == 1 &&
            SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1) == 1;
  if (!ok) {
    err = "TLS settings rejected by OpenSSL: " + take_ossl_error();
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET | SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
  // Resumption by tickets only: no per-context session store to lock or bound.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!TicketKeys::install(ctx)) {
    err = "cannot install session ticket keys: " + take_ossl_error();
    return false;
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, const_cast<AlpnList*>(alpn));
  return true;
}

// A configured context holding the pair in `cert_file`/`key_file`.
SslCtxPtr build_one(const std::string& cert_file, const std::string& key_file,
                    const AlpnList* alpn, SniMap& names, size_t index, std::string& err) {
  if (cert_file.empty() || key_file.empty()) {
    err = "ssl: both cert_file and key_file are required";
    return nullptr;
  }
  std::optional<CertKey> ck = load_cert_key(cert_file, key_file, err);
  if (!ck) return nullptr;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    err = "cannot create a TLS context: " + take_ossl_error();
    return nullptr;
  }
  if (!configure(ctx.get(), alpn, err) || !install_cert_key(ctx.get(), *ck, cert_file, err)) {
    return nullptr;
  }
  enable_ocsp_stapling(ctx.get(), cert_file);  // when the leaf names a responder
  for (const std::string& n : dns_names(ck->cert.get())) names.add(n, index);
  return ctx;
}

}  // namespace

std::shared_ptr<ServerContext> ServerContext::create(const config::Ssl& ssl, std::string& err) {
  return create(ssl, false, err);
}

std::shared_ptr<ServerContext> ServerContext::create(const config::Ssl& ssl, bool offer_h2,
                                                     std::string& err) {
  const AlpnList* alpn = offer_h2 ? &kAlpnH2Http11 : &kAlpnHttp11;
  std::shared_ptr<const TicketKeySet> ticket_keys;
  if (!ssl.ticket_key_file.empty()) {
    ticket_keys = load_ticket_key_file(ssl.ticket_key_file, err);
    if (!ticket_keys) {
      err = "ssl.ticket_key_file " + err;
      return nullptr;
    }
  }
  auto state = std::make_unique<SniState>();
  SslCtxPtr def = build_one(ssl.cert_file, ssl.key_file, alpn, state->names, 0, err);
  if (!def) return nullptr;
  for (size_t i = 0; i < ssl.certificates.size(); ++i) {
    const config::CertPair& p = ssl.certificates[i];
    SslCtxPtr c = build_one(p.cert_file, p.key_file, alpn, state->names, i + 1, err);
    if (!c) return nullptr;
    state->others.push_back(c.release());
  }
  state->default_ctx = def.get();
  SniState* st = state.get();
  if (!ctx_attach(def.get(), std::move(state))) {
    err = "cannot attach the SNI table to the TLS context";
    return nullptr;
  }
  SSL_CTX_set_tlsext_servername_callback(def.get(), on_servername);
  SSL_CTX_set_tlsext_servername_arg(def.get(), st);
  size_t count = 1 + ssl.certificates.size();
  // asio::ssl::context takes over the reference; it only throws for a null handle.
  auto made = std::make_shared<ServerContext>(boost::asio::ssl::context(def.release()), count, offer_h2);
  made->ticket_keys_ = std::move(ticket_keys);
  return made;
}

void ServerContext::use_ticket_keys() const { TicketKeys::process().use_file_keys(ticket_keys_); }

size_t ServerContext::certificate_for(std::string_view server_name) const {
  const SniState* st = ctx_get<SniState>(const_cast<boost::asio::ssl::context&>(ctx_).native_handle());
  return st ? st->index_for(server_name) : 0;
}

std::string_view ServerContext::alpn_selected(const SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  if (ssl != nullptr) SSL_get0_alpn_selected(ssl, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

std::string_view ServerContext::server_name(const SSL* ssl) {
  const char* n = ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : nullptr;
  return n ? std::string_view(n) : std::string_view();
}

}  // namespace gh::tls
