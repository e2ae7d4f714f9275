#include "tls/ocsp_response.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <climits>
#include <memory>

#include "tls/ossl.h"

namespace gh::tls {
namespace {

struct OcspFree {
  void operator()(OCSP_RESPONSE* p) const { OCSP_RESPONSE_free(p); }
  void operator()(OCSP_BASICRESP* p) const { OCSP_BASICRESP_free(p); }
  void operator()(OCSP_REQUEST* p) const { OCSP_REQUEST_free(p); }
  void operator()(OCSP_CERTID* p) const { OCSP_CERTID_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(STACK_OF(X509)* p) const { sk_X509_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, OcspFree>;

constexpr long kSkewSeconds = 300;

time_t to_epoch(const ASN1_GENERALIZEDTIME* t) {
  if (t == nullptr) return 0;
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

OcspCheck invalid(std::string why) {
  OcspCheck c;
  c.why = std::move(why);
  ERR_clear_error();
  return c;
}

}  // namespace

std::string ocsp_responder_url(X509* cert) {
  std::string url;
  STACK_OF(OPENSSL_STRING)* urls = cert ? X509_get1_ocsp(cert) : nullptr;
  for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls); ++i) {
    std::string u = sk_OPENSSL_STRING_value(urls, i);
    if (u.rfind("http://", 0) == 0) {
      url = u;
      break;
    }
  }
  X509_email_free(urls);
  return url;
}

std::string ocsp_request_der(X509* leaf, X509* issuer) {
  Owned<OCSP_REQUEST> req(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf, issuer);
  if (!req || !id) {
    OCSP_CERTID_free(id);
    ERR_clear_error();
    return {};
  }
  if (OCSP_request_add0_id(req.get(), id) == nullptr) {  // takes `id` only on success
    OCSP_CERTID_free(id);
    ERR_clear_error();
    return {};
  }
  int n = i2d_OCSP_REQUEST(req.get(), nullptr);
  if (n <= 0) return {};
  std::string der(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_OCSP_REQUEST(req.get(), &p);
  return der;
}

OcspCheck check_ocsp_response(std::string_view der, X509* leaf, X509* issuer) {
  if (leaf == nullptr || issuer == nullptr) return invalid("no certificate or issuer");
  if (der.empty() || der.size() > LONG_MAX) return invalid("empty response");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Owned<OCSP_RESPONSE> resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!resp) return invalid("not a DER OCSP response");
  int rs = OCSP_response_status(resp.get());
  if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return invalid(std::string("the responder answered ") + OCSP_response_status_str(rs));
  Owned<OCSP_BASICRESP> basic(OCSP_response_get1_basic(resp.get()));
  if (!basic) return invalid("not a basic OCSP response");

  // The issuer is the trust anchor (it may be an intermediate, hence
  // PARTIAL_CHAIN); a delegated responder certificate must chain to it.
  Owned<X509_STORE> store(X509_STORE_new());
  Owned<STACK_OF(X509)> certs(sk_X509_new_null());
  if (!store || !certs || X509_STORE_add_cert(store.get(), issuer) != 1 ||
      sk_X509_push(certs.get(), issuer) <= 0)
    return invalid("out of memory");
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), 0) <= 0)
    return invalid("signature does not verify against the issuer: " + take_ossl_error());

  Owned<OCSP_CERTID> id(OCSP_cert_to_id(EVP_sha1(), leaf, issuer));
  if (!id) return invalid("cannot compute the certificate's OCSP id");
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_upd = nullptr, *next_upd = nullptr;
  if (OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_upd,
                            &next_upd) != 1)
    return invalid("the response has no status for this certificate");
  if (OCSP_check_validity(this_upd, next_upd, kSkewSeconds, -1) != 1)
    return invalid("outside its validity (thisUpdate in the future or nextUpdate passed): " +
                   take_ossl_error());
  OcspCheck c;
  c.this_update = to_epoch(this_upd);
  c.next_update = to_epoch(next_upd);
  if (status == V_OCSP_CERTSTATUS_GOOD) {
    c.status = OcspCheck::Status::good;
  } else if (status == V_OCSP_CERTSTATUS_REVOKED) {
    c.status = OcspCheck::Status::revoked;
    c.why = std::string("revoked (") + OCSP_crl_reason_str(reason) + ")";
  } else {
    c.status = OcspCheck::Status::unknown;
    c.why = "the responder does not know this certificate";
  }
  return c;
}

}  // namespace gh::tls
