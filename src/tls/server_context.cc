#include "tls/server_context.h"

#include "tls/certificates.h"
#include "tls/ex_data.h"
#include "tls/live_certificates.h"
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
constexpr unsigned char kAcmeTls[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
const AlpnList kAlpnHttp11{kHttp11, sizeof kHttp11};
const AlpnList kAlpnH2Http11{kH2Http11, sizeof kH2Http11};
const AlpnList kAlpnAcmeTls{kAcmeTls, sizeof kAcmeTls};

const AlpnList* alpn_list(Alpn a) {
  return a == Alpn::acme_tls ? &kAlpnAcmeTls : a == Alpn::h2_http11 ? &kAlpnH2Http11 : &kAlpnHttp11;
}

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
  // With ssl.acme: the issued certificates and tls-alpn-01 challenges.
  LiveCertificates* live = nullptr;
  bool offer_h2 = false;
  bool placeholder_default = false;   // no cert_file: the first live certificate is the default
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

// Set on an SSL whose ClientHello offers ALPN "acme-tls/1" (RFC 8737 6).
struct AcmeTlsOffered {};

// True when the wire-format ALPN extension body (RFC 7301 3.1: a 2-byte
// length, then length-prefixed names) lists "acme-tls/1".
bool offers_acme_tls(const unsigned char* p, size_t len) {
  if (len < 2) return false;
  size_t total = (size_t{p[0]} << 8) | p[1];
  if (total + 2 > len) return false;
  for (size_t i = 2; i < total + 2;) {
    size_t n = p[i];
    if (n == 0 || i + 1 + n > total + 2) return false;
    if (n == kAcmeTls[0] && std::equal(p + i + 1, p + i + 1 + n, kAcmeTls + 1)) return true;
    i += 1 + n;
  }
  return false;
}

// Runs before the servername callback; only notes an acme-tls/1 offer,
// since the SNI switch (below) decides the certificate.
int on_client_hello(SSL* ssl, int*, void*) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p,
                                &len) == 1 &&
      offers_acme_tls(p, len))
    ssl_attach(ssl, std::make_unique<AcmeTlsOffered>());
  return SSL_CLIENT_HELLO_SUCCESS;
}

// The context of a live (ACME) certificate or challenge for this handshake,
// or nullptr to keep the configured choice. A validation handshake for a
// name without a pending challenge gets nothing special (and fails ALPN,
// as it offers only acme-tls/1).
// `snap` must stay alive until SSL_set_SSL_CTX has taken its reference.
SSL_CTX* live_target(const SniState& st, const LiveCertificates::Snapshot& snap, SSL* ssl,
                     std::string_view name, size_t static_idx) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (ssl_get<AcmeTlsOffered>(ssl) != nullptr) {
    auto it = snap.challenges.find(n);
    return it != snap.challenges.end() ? it->second->http11.get() : nullptr;
  }
  if (auto it = snap.by_name.find(n); it != snap.by_name.end())
    return it->second->for_alpn(st.offer_h2);
  if (static_idx == 0 && st.placeholder_default && snap.first)
    return snap.first->for_alpn(st.offer_h2);
  return nullptr;
}

// Runs for every ClientHello (OpenSSL 1.1.1+ calls it with or without SNI).
// Unknown or absent names keep the default certificate rather than failing:
// clients that omit SNI or probe by IP still get an answer.
int on_servername(SSL* ssl, int* alert, void* arg) {
  const auto* st = static_cast<const SniState*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  size_t idx = st->index_for(name ? std::string_view(name) : std::string_view());
  SSL_CTX* target = idx == 0 ? st->default_ctx : st->others[idx - 1];
  std::shared_ptr<const LiveCertificates::Snapshot> snap;   // holds `target` until switched to
  if (st->live) {
    snap = st->live->snapshot();
    if (SSL_CTX* l = live_target(*st, *snap, ssl, name ? std::string_view(name) : std::string_view(), idx))
      target = l;
  }
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

// A configured context holding `ck` (named `label` in errors).
SslCtxPtr context_for(const CertKey& ck, const AlpnList* alpn, const std::string& label,
                      std::string& err) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    err = "cannot create a TLS context: " + take_ossl_error();
    return nullptr;
  }
  if (!configure(ctx.get(), alpn, err) || !install_cert_key(ctx.get(), ck, label, err)) {
    return nullptr;
  }
  // Every served certificate (files and ACME's) is stapled when its leaf
  // names an OCSP responder and its issuer is in the chain.
  enable_ocsp_stapling(ctx.get(), label);
  return ctx;
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
  SslCtxPtr ctx = context_for(*ck, alpn, cert_file, err);
  if (!ctx) return nullptr;
  for (const std::string& n : dns_names(ck->cert.get())) names.add(n, index);
  return ctx;
}

// The default context while ACME has issued nothing and no cert_file is set.
SslCtxPtr build_placeholder(const AlpnList* alpn, std::string& err) {
  std::optional<CertKey> ck = make_placeholder_certificate();
  if (!ck) {
    err = "ssl.acme: cannot make the placeholder certificate: " + take_ossl_error();
    return nullptr;
  }
  return context_for(*ck, alpn, "ssl.acme placeholder", err);
}

}  // namespace

SslCtxPtr make_server_ctx(const CertKey& ck, Alpn alpn, const std::string& label,
                          std::string& err) {
  return context_for(ck, alpn_list(alpn), label, err);
}

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
  const bool placeholder = ssl.acme && ssl.cert_file.empty();
  SslCtxPtr def = placeholder ? build_placeholder(alpn, err)
                              : build_one(ssl.cert_file, ssl.key_file, alpn, state->names, 0, err);
  if (!def) return nullptr;
  if (ssl.acme) {
    state->live = &LiveCertificates::process();
    state->offer_h2 = offer_h2;
    state->placeholder_default = placeholder;
    SSL_CTX_set_client_hello_cb(def.get(), on_client_hello, nullptr);
  }
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
