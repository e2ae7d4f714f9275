// Typed slots in OpenSSL's per-object "ex_data", owned by the object: the
// value is deleted when the SSL_CTX (or SSL) is freed. Callbacks find their
// state here rather than through a pointer to a C++ wrapper, so an SSL that
// outlives its ServerContext/ClientContext (a reload while a pooled
// connection is still open) never reaches freed memory.
#pragma once

#include <openssl/ssl.h>

#include <memory>

namespace gh::tls {

// One index per T per process; -1 if OpenSSL could not allocate one.
template <class T>
int ctx_slot() {
  static const int idx = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<T*>(ptr); });
  return idx;
}

template <class T>
int ssl_slot() {
  static const int idx = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<T*>(ptr); });
  return idx;
}

template <class T>
T* ctx_get(const SSL_CTX* ctx) {
  int idx = ctx_slot<T>();
  return idx < 0 ? nullptr : static_cast<T*>(SSL_CTX_get_ex_data(ctx, idx));
}

// Hands `v` to `ctx`. Call once per context. False (and `v` deleted) when
// OpenSSL refuses.
template <class T>
bool ctx_attach(SSL_CTX* ctx, std::unique_ptr<T> v) {
  int idx = ctx_slot<T>();
  if (idx < 0 || SSL_CTX_set_ex_data(ctx, idx, v.get()) != 1) return false;
  v.release();
  return true;
}

template <class T>
T* ssl_get(const SSL* ssl) {
  int idx = ssl_slot<T>();
  return idx < 0 ? nullptr : static_cast<T*>(SSL_get_ex_data(ssl, idx));
}

// Replaces (and deletes) any value already there.
template <class T>
bool ssl_attach(SSL* ssl, std::unique_ptr<T> v) {
  int idx = ssl_slot<T>();
  if (idx < 0) return false;
  T* old = static_cast<T*>(SSL_get_ex_data(ssl, idx));
  if (SSL_set_ex_data(ssl, idx, v.get()) != 1) return false;
  v.release();
  delete old;
  return true;
}

}  // namespace gh::tls
