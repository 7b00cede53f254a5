#pragma once
// A throwaway PKI for one kubesim run: a self-signed CA and a serving certificate for 127.0.0.1
// and localhost signed by it (RSA 2048, one year). kubeconfigs carry the CA as
// certificate-authority-data.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace kubesim {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct ServingCertificates {
  std::unique_ptr<X509, X509Deleter> caCert;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> caKey;
  std::unique_ptr<X509, X509Deleter> serverCert;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> serverKey;
  std::string caPem;
  std::string serverCertPem;
  std::string serverKeyPem;
};

// Throws std::runtime_error with OpenSSL's reason when generation fails.
ServingCertificates generateServingCertificates(const std::string& bindAddress);

// With a --data-dir: the certificates of an earlier run from DIR/pki (ca.crt, ca.key,
// apiserver.crt, apiserver.key), else new ones written there (keys mode 0600), so that a
// restarted kubesim keeps serving with the CA its clients' kubeconfigs trust. Throws
// std::runtime_error naming the file when one exists but cannot be read.
ServingCertificates loadOrGenerateServingCertificates(const std::string& bindAddress,
                                                      const std::string& dataDir);

}  // namespace kubesim
