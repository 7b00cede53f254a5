#include "test/kubesim/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kubesim {

namespace {

[[noreturn]] void fail(const std::string& what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error("kubesim TLS: " + what + ": " + buf);
}

std::unique_ptr<EVP_PKEY, PkeyDeleter> newKey() {
  EVP_PKEY* k = EVP_RSA_gen(2048);
  if (!k) fail("generating an RSA key");
  return std::unique_ptr<EVP_PKEY, PkeyDeleter>(k);
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) fail("building a certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

std::unique_ptr<X509, X509Deleter> newCert(EVP_PKEY* key, const char* cn, X509* issuer) {
  X509* x = X509_new();
  if (!x) fail("allocating a certificate");
  std::unique_ptr<X509, X509Deleter> cert(x);
  X509_set_version(x, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

std::string pemOf(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

std::string pemOf(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

}  // namespace

ServingCertificates generateServingCertificates(const std::string& bindAddress) {
  ServingCertificates c;
  c.caKey = newKey();
  c.caCert = newCert(c.caKey.get(), "kubesim-ca", nullptr);
  addExt(c.caCert.get(), c.caCert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExt(c.caCert.get(), c.caCert.get(), NID_key_usage,
         "critical,keyCertSign,cRLSign,digitalSignature");
  addExt(c.caCert.get(), c.caCert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(c.caCert.get(), c.caKey.get(), EVP_sha256())) fail("signing the CA certificate");

  c.serverKey = newKey();
  c.serverCert = newCert(c.serverKey.get(), "kube-apiserver", c.caCert.get());
  std::string san =
      "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1";
  if (!bindAddress.empty() && bindAddress != "127.0.0.1" && bindAddress != "0.0.0.0" &&
      bindAddress.find_first_not_of("0123456789.") == std::string::npos) {
    san += ",IP:" + bindAddress;
  }
  addExt(c.serverCert.get(), c.caCert.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExt(c.serverCert.get(), c.caCert.get(), NID_key_usage,
         "critical,digitalSignature,keyEncipherment");
  addExt(c.serverCert.get(), c.caCert.get(), NID_ext_key_usage, "serverAuth");
  addExt(c.serverCert.get(), c.caCert.get(), NID_subject_alt_name, san.c_str());
  addExt(c.serverCert.get(), c.caCert.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(c.serverCert.get(), c.caKey.get(), EVP_sha256()))
    fail("signing the serving certificate");

  c.caPem = pemOf(c.caCert.get());
  c.serverCertPem = pemOf(c.serverCert.get());
  c.serverKeyPem = pemOf(c.serverKey.get());
  return c;
}

namespace {

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("kubesim TLS: cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::filesystem::path& p, const std::string& text, bool secret) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("kubesim TLS: cannot write " + p.string());
    out << text;
  }
  if (secret) {
    std::filesystem::permissions(
        p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
}

std::unique_ptr<X509, X509Deleter> certFrom(const std::string& pem, const std::string& where) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (!x) fail("reading the certificate in " + where);
  return std::unique_ptr<X509, X509Deleter>(x);
}

std::unique_ptr<EVP_PKEY, PkeyDeleter> keyFrom(const std::string& pem, const std::string& where) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (!k) fail("reading the private key in " + where);
  return std::unique_ptr<EVP_PKEY, PkeyDeleter>(k);
}

}  // namespace

ServingCertificates loadOrGenerateServingCertificates(const std::string& bindAddress,
                                                      const std::string& dataDir) {
  if (dataDir.empty()) return generateServingCertificates(bindAddress);
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(dataDir) / "pki";
  const fs::path ca = dir / "ca.crt", caKey = dir / "ca.key", crt = dir / "apiserver.crt",
                 key = dir / "apiserver.key";
  if (fs::exists(ca)) {
    ServingCertificates c;
    c.caPem = readFile(ca);
    c.caCert = certFrom(c.caPem, ca.string());
    c.caKey = keyFrom(readFile(caKey), caKey.string());
    c.serverCertPem = readFile(crt);
    c.serverCert = certFrom(c.serverCertPem, crt.string());
    c.serverKeyPem = readFile(key);
    c.serverKey = keyFrom(c.serverKeyPem, key.string());
    return c;
  }
  ServingCertificates c = generateServingCertificates(bindAddress);
  fs::create_directories(dir);
  writeFile(caKey, pemOf(c.caKey.get()), true);
  writeFile(key, c.serverKeyPem, true);
  writeFile(crt, c.serverCertPem, false);
  writeFile(ca, c.caPem, false);  // last: its presence means the set is complete
  return c;
}

}  // namespace kubesim
