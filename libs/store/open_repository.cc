#include "libs/store/open_repository.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/store/repository_location.h"
#include "libs/store/s3_repository.h"

namespace arca {
namespace {

std::string S(std::string_view v) { return std::string(v); }

void FromEnv(const char* name, std::string* field) {
  if (!field->empty()) return;
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') *field = v;
}

absl::Status CheckS3Options(const RepositoryLocation& location, const s3::S3Options& o) {
  if (o.endpoint.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository ", location.Display(),
                     ": no S3 endpoint: set AWS_ENDPOINT_URL or pass --s3-endpoint URL (e.g. "
                     "https://s3.eu-west-1.amazonaws.com or http://rgw.example:7480)"));
  }
  if (o.access_key_id.empty() || o.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository ", location.Display(),
                     ": no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<s3::S3Client>> MakeClient(const RepositoryLocation& location,
                                                         const RepositoryOpenOptions& options) {
  s3::S3Options o = options.s3;
  S3OptionsFromEnvironment(&o);
  RETURN_IF_ERROR(CheckS3Options(location, o));
  return s3::S3Client::Create(std::move(o), location.bucket, options.s3_observer);
}

}  // namespace

void S3OptionsFromEnvironment(s3::S3Options* options) {
  FromEnv("AWS_ENDPOINT_URL", &options->endpoint);
  FromEnv("AWS_ACCESS_KEY_ID", &options->access_key_id);
  FromEnv("AWS_SECRET_ACCESS_KEY", &options->secret_access_key);
  FromEnv("AWS_SESSION_TOKEN", &options->session_token);
  if (const char* v = std::getenv("AWS_REGION"); v != nullptr && *v != '\0') {
    if (options->region.empty() || options->region == "us-east-1") options->region = v;
  }
  if (options->region.empty()) options->region = "us-east-1";
}

const std::vector<std::string>& S3FlagNames() {
  static const std::vector<std::string>* names = new std::vector<std::string>{
      "s3-endpoint", "s3-addressing", "s3-ca", "s3-retries", "s3-timeout", "limit-upload"};
  return *names;
}

absl::Status ApplyS3Flag(std::string_view name, std::string_view value, s3::S3Options* options) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", S(name), " '", S(value), "': ", S(why)));
  };
  const absl::string_view v(value.data(), value.size());
  if (name == "s3-endpoint") {
    if (!absl::StartsWith(v, "http://") && !absl::StartsWith(v, "https://")) {
      return bad("give a URL starting with http:// or https://");
    }
    options->endpoint = S(value);
  } else if (name == "s3-addressing") {
    if (value == "path") {
      options->addressing = s3::Addressing::kPath;
    } else if (value == "virtual") {
      options->addressing = s3::Addressing::kVirtual;
    } else {
      return bad("use path or virtual");
    }
  } else if (name == "s3-ca") {
    if (value.empty()) return bad("give a CA certificate file");
    options->ca_file = S(value);
  } else if (name == "s3-retries") {
    int n;
    if (!absl::SimpleAtoi(v, &n) || n < 0 || n > 100) return bad("use 0 to 100");
    options->max_retries = n;
  } else if (name == "s3-timeout") {
    double seconds;
    if (!absl::SimpleAtod(v, &seconds) || !(seconds > 0) || seconds > 86400) {
      return bad("use seconds, more than 0");
    }
    options->timeout_ms = static_cast<int64_t>(seconds * 1000);
  } else if (name == "limit-upload") {
    absl::string_view digits = v;
    uint64_t unit = 1;
    if (!digits.empty()) {
      switch (absl::ascii_toupper(static_cast<unsigned char>(digits.back()))) {
        case 'K':
          unit = 1ull << 10;
          break;
        case 'M':
          unit = 1ull << 20;
          break;
        case 'G':
          unit = 1ull << 30;
          break;
        default:
          break;
      }
      if (unit != 1) digits.remove_suffix(1);
    }
    uint64_t n;
    if (!absl::SimpleAtoi(digits, &n) || n > (1ull << 50) / unit) {
      return bad("use bytes per second, e.g. 500K, 20M or 1G (0 = unlimited)");
    }
    options->limit_upload_bytes_per_second = n * unit;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown S3 flag --", S(name)));
  }
  return absl::OkStatus();
}

absl::Status CheckRepositoryOpenOptions(std::string_view location,
                                        const RepositoryOpenOptions& options) {
  ASSIGN_OR_RETURN(RepositoryLocation loc, ParseRepositoryLocation(location));
  if (loc.kind == RepositoryLocation::Kind::kLocal) return absl::OkStatus();
  s3::S3Options o = options.s3;
  S3OptionsFromEnvironment(&o);
  return CheckS3Options(loc, o);
}

absl::StatusOr<std::unique_ptr<Repository>> OpenRepositoryAt(std::string_view location,
                                                             const RepositoryOpenOptions& options) {
  ASSIGN_OR_RETURN(RepositoryLocation loc, ParseRepositoryLocation(location));
  std::unique_ptr<Repository> repo;
  if (loc.kind == RepositoryLocation::Kind::kLocal) {
    ASSIGN_OR_RETURN(repo, Repository::Open(loc.path, options.local));
  } else {
    ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Client> client, MakeClient(loc, options));
    ASSIGN_OR_RETURN(repo, S3Repository::Open(std::move(client), loc));
  }
  if (!repo->encrypted() || options.allow_locked) return repo;
  if (!options.secret) RETURN_IF_ERROR(repo->Unlock(RepositorySecret{}));
  ASSIGN_OR_RETURN(RepositorySecret secret, options.secret(*repo));
  RETURN_IF_ERROR(repo->Unlock(secret));
  return repo;
}

absl::StatusOr<std::unique_ptr<Repository>> InitRepositoryAt(std::string_view location,
                                                             v1::RepositoryConfig config,
                                                             const RepositoryOpenOptions& options,
                                                             const NewRepositoryKey* encryption) {
  ASSIGN_OR_RETURN(RepositoryLocation loc, ParseRepositoryLocation(location));
  if (loc.kind == RepositoryLocation::Kind::kLocal) {
    return Repository::Init(loc.path, std::move(config), encryption);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Client> client, MakeClient(loc, options));
  return S3Repository::Init(std::move(client), loc, std::move(config), encryption);
}

}  // namespace arca
