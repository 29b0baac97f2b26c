#include "core/x509.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

namespace dg {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr FromDer(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

}  // namespace

StatusOr<EcPublicKey> VerifyCertificateChain(const std::vector<std::string>& der_chain, const std::string& trusted_pem,
                                             const std::string& where) {
  if (der_chain.empty()) return Status::InvalidInput(where + ": the certificate chain is empty");
  X509Ptr leaf = FromDer(der_chain[0]);
  if (!leaf) return Status::InvalidInput(where + ": certificate 0 is not a DER X.509 certificate");
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  std::vector<X509Ptr> keep;
  for (size_t i = 1; i < der_chain.size(); ++i) {
    X509Ptr c = FromDer(der_chain[i]);
    if (!c) {
      sk_X509_free(untrusted);
      return Status::InvalidInput(where + ": certificate " + std::to_string(i) + " is not a DER X.509 certificate");
    }
    sk_X509_push(untrusted, c.get());
    keep.push_back(std::move(c));
  }
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(trusted_pem.data(), static_cast<int>(trusted_pem.size()));
  int trusted = 0;
  for (X509* c; (c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) != nullptr; X509_free(c)) {
    if (X509_STORE_add_cert(store, c) == 1) ++trusted;
  }
  ERR_clear_error();  // the end of the PEM text
  BIO_free(bio);
  auto cleanup = [&] {
    X509_STORE_free(store);
    sk_X509_free(untrusted);
  };
  if (trusted == 0) {
    cleanup();
    return Status::InvalidInput(where + ": no PEM certificate to trust in the --cert-chain files");
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = ctx != nullptr && X509_STORE_CTX_init(ctx, store, leaf.get(), untrusted) == 1;
  std::string why;
  if (ok) {
    // Judged at the time the signing certificate became valid, as model_signing does.
    const ASN1_TIME* nb = X509_get0_notBefore(leaf.get());
    struct tm t {};
    if (nb != nullptr && ASN1_TIME_to_tm(nb, &t) == 1) X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), timegm(&t));
    ok = X509_verify_cert(ctx) == 1;
    if (!ok) why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  }
  X509_STORE_CTX_free(ctx);
  cleanup();
  if (!ok) return Status::VerifyFailed(where + ": the signing certificate does not chain to a trusted certificate: " + why);
  const uint32_t ku = X509_get_key_usage(leaf.get());
  const uint32_t xku = X509_get_extended_key_usage(leaf.get());
  const bool signing = (ku != UINT32_MAX && (ku & KU_DIGITAL_SIGNATURE)) || (xku != UINT32_MAX && (xku & XKU_CODE_SIGN));
  if (!signing) return Status::VerifyFailed(where + ": the signing certificate is not for signing (no digitalSignature, no codeSigning)");
  EVP_PKEY* pk = X509_get0_pubkey(leaf.get());
  if (pk == nullptr) return Status::InvalidInput(where + ": the signing certificate has no public key");
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(pk, &der);
  if (n <= 0) return Status::Internal("i2d_PUBKEY failed");
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return EcPublicKey::FromDer(spki, where + ": the signing certificate's key");
}

}  // namespace dg
