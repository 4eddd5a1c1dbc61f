#include "services/common/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "absl/strings/str_cat.h"

namespace arca::services {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& data) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

absl::Status Bad(const std::string& flag, const std::string& path, const std::string& what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", what));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read the file: ", std::strerror(errno)));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": the file is empty; expected PEM data"));
  }
  return data;
}

absl::StatusOr<CertificateInfo> LoadKeyPair(const std::string& cert_flag,
                                            const std::string& cert_path,
                                            const std::string& key_flag,
                                            const std::string& key_path) {
  absl::StatusOr<std::string> cert_pem = ReadPemFile(cert_flag, cert_path);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadPemFile(key_flag, key_path);
  if (!key_pem.ok()) return key_pem.status();
  auto cert_bio = MemoryBio(*cert_pem);
  std::unique_ptr<X509, X509Free> leaf(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (leaf == nullptr) {
    return Bad(cert_flag, cert_path, "no PEM certificate in the file");
  }
  auto key_bio = MemoryBio(*key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return Bad(key_flag, key_path, "no PEM private key in the file (or it is encrypted)");
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return Bad(key_flag, key_path,
               absl::StrCat("the key does not belong to the certificate in ", cert_path, " (",
                            cert_flag, "); give the matching pair"));
  }
  CertificateInfo info;
  char subject[512];
  X509_NAME_oneline(X509_get_subject_name(leaf.get()), subject, sizeof(subject));
  info.subject = subject;
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      info.uri_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                 static_cast<size_t>(ASN1_STRING_length(uri)));
    }
    GENERAL_NAMES_free(names);
  }
  return info;
}

absl::Status CheckCaBundle(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadPemFile(flag, path);
  if (!pem.ok()) return pem.status();
  auto bio = MemoryBio(*pem);
  std::unique_ptr<X509, X509Free> first(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (first == nullptr) return Bad(flag, path, "no PEM certificate in the file");
  return absl::OkStatus();
}

}  // namespace arca::services
