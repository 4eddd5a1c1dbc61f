// Reads and checks the PEM files of a service's TLS identity at start-up, so
// that a wrong file is exit 2 with a message naming it, not a handshake that
// fails later. The files are then watched by gRPC's
// FileWatcherCertificateProvider (server.cc, client_channel.cc): a rotated
// certificate is served without a restart.
#ifndef ARCA_SERVICES_COMMON_TLS_FILES_H_
#define ARCA_SERVICES_COMMON_TLS_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace arca::services {

struct CertificateInfo {
  std::string subject;                // the leaf's subject, one line
  std::vector<std::string> uri_sans;  // the leaf's URI SANs (SPIFFE IDs)
};

// Parses the certificate chain in `cert_path` and the private key in
// `key_path` and checks that the key belongs to the leaf certificate.
// `*_flag` is how messages name each file ("--tls-cert", "client key").
// InvalidArgument naming the flag and the file: unreadable, empty, no PEM
// certificate / key in it, or a key that does not match the certificate.
absl::StatusOr<CertificateInfo> LoadKeyPair(const std::string& cert_flag,
                                            const std::string& cert_path,
                                            const std::string& key_flag,
                                            const std::string& key_path);

// Checks that `path` holds at least one PEM certificate (a CA bundle).
// InvalidArgument naming the flag and the file otherwise.
absl::Status CheckCaBundle(const std::string& flag, const std::string& path);

// The contents of a PEM file given with `flag`; InvalidArgument naming both
// when it cannot be read or is empty.
absl::StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& path);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_TLS_FILES_H_
