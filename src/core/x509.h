// X.509 certificate chains through OpenSSL, for signatures that name their
// signer by certificate (OpenSSF model_signing's certificate mode).
//
// Pure functions of their arguments (no I/O); safe on any thread. Errors:
// InvalidInput for certificates or PEM that do not parse; VerifyFailed for a
// chain that does not lead to a trusted root, or a leaf not meant for
// signing.
#ifndef DISTILLGATE_CORE_X509_H_
#define DISTILLGATE_CORE_X509_H_

#include <string>
#include <vector>

#include "core/ecdsa.h"
#include "core/status.h"

namespace dg {

// Verifies `der_chain` (the signing certificate first, then untrusted
// intermediates, each DER) against the trusted certificates in
// `trusted_pem` (one or more PEM certificates), as model_signing does: at the
// signing certificate's notBefore time (a signature is judged by when it was
// made), and the signing certificate must allow digitalSignature (key usage)
// or codeSigning (extended key usage). Returns its ECDSA public key.
StatusOr<EcPublicKey> VerifyCertificateChain(const std::vector<std::string>& der_chain, const std::string& trusted_pem,
                                             const std::string& where);

}  // namespace dg

#endif  // DISTILLGATE_CORE_X509_H_
