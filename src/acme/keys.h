// Keys, CSRs and certificates for ACME (OpenSSL): the account and
// certificate keys, the PEM files they live in, the CSR sent at
// finalization, the tls-alpn-01 validation certificate (RFC 8737 3) and the
// validity of an issued chain. No network; usable from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/ossl.h"

namespace gh::acme {

using PkeyPtr = tls::PkeyPtr;
using X509Ptr = tls::X509Ptr;

// A new EC P-256 key (prime256v1: ES256 for accounts, ECDSA for
// certificates). nullptr only when OpenSSL fails (out of memory).
PkeyPtr generate_ec_key();

// The private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
std::string private_key_pem(EVP_PKEY* key);

// Reads a PEM private key (PKCS#8 or traditional EC/RSA). nullptr + err
// ("no start line", ...) when it is not one; never asks for a passphrase.
PkeyPtr load_private_key_pem(std::string_view pem, std::string& err);
// The same from a file; err names the path.
PkeyPtr load_private_key_file(const std::string& path, std::string& err);

// Writes `data` to `path` readable by the owner only (0600): created as a
// temp file in the same directory with mode 0600 from the start (never
// world-readable, even briefly), fsynced, then renamed over `path`, so a
// reader sees the old file or the new one, never half of one. false + err
// (naming the path and errno's text) on failure, leaving `path` unchanged.
bool write_private_file(const std::string& path, std::string_view data, std::string& err);
// write_private_file(path, private_key_pem(key), err).
bool save_private_key_file(const std::string& path, EVP_PKEY* key, std::string& err);

// A PKCS#10 CSR (RFC 2986) for `domains`, signed with `key` (SHA-256):
// subject CN = domains[0] (when it fits the 64-byte CN limit), a
// subjectAltName with every name as a dNSName. Returns the DER bytes (what
// finalize sends, base64url, RFC 8555 7.4). nullopt + err for no domains or
// an OpenSSL failure.
std::optional<std::string> make_csr(const std::vector<std::string>& domains, EVP_PKEY* key,
                                    std::string& err);

// The self-signed certificate a tls-alpn-01 validation handshake (ALPN
// "acme-tls/1", SNI = domain) must present (RFC 8737 3): subjectAltName
// dNSName = domain, and the critical extension id-pe-acmeIdentifier
// (1.3.6.1.5.5.7.1.31) whose value is the DER OCTET STRING of
// SHA-256(key_authorization). A fresh P-256 key; valid from an hour ago for
// 7 days.
struct AlpnCertificate {
  X509Ptr cert;
  PkeyPtr key;
};
std::optional<AlpnCertificate> make_tls_alpn01_certificate(std::string_view domain,
                                                          std::string_view key_authorization,
                                                          std::string& err);

// A certificate as PEM.
std::string certificate_pem(X509* cert);

// The validity of the FIRST certificate (the leaf) of a PEM chain.
struct Validity {
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};
// nullopt + err when `chain_pem` holds no parsable certificate.
std::optional<Validity> parse_chain_validity(std::string_view chain_pem, std::string& err);

// "" when the FIRST certificate of `chain_pem` holds `key`'s public key and
// covers every one of `names` (X509_check_host, no partial wildcards); else
// what is wrong ("the leaf does not cover www.example.com"), for a log
// line. For a stored certificate and key, and for what a CA returned.
std::string chain_mismatch(std::string_view chain_pem, EVP_PKEY* key, const std::vector<std::string>& names);

}  // namespace gh::acme
