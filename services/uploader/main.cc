// arca-uploader: the Uploader service as its own process; owns one repository.
//   uploader --repo DIR|s3://BUCKET/PREFIX --listen=HOST:PORT
//            (common server flags: services/common/server.h)
//            [--s3-endpoint URL] [--s3-addressing=path|virtual] [--s3-ca FILE]
//            [--s3-retries N] [--s3-timeout SECONDS] [--limit-upload RATE]
//             [--drain-seconds N] [--threads N]
//            [--max-in-flight N] [--flush-mib N] [--flush-delay-ms N]
//            [--verify-blobs=full|frame] [--max-clock-skew DURATION]
//            [--key-file FILE]
// --key-file: the key file (`arca init --new-key-file`, `arca key add
// --new-key-file`) that unlocks an encrypted repository; the uploader is the
// only service that holds the master key (services/README.md, Encryption).
// The file's contents are never logged.
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags, an unreadable or
// malformed key file, or cannot listen, 4 the repository is missing,
// incompatible or unreadable, or encrypted and not unlocked (no --key-file,
// or a key file of another repository).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/cli_flags.h"
#include "libs/crypto/repository_key.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/s3_metrics.h"
#include "libs/store/open_repository.h"
#include "libs/store/repository.h"
#include "libs/store/repository_location.h"
#include "services/common/server.h"
#include "services/uploader/commit_time.h"
#include "services/uploader/uploader_service.h"

namespace {

constexpr char kProgram[] = "arca-uploader";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: uploader --repo DIR|s3://BUCKET/PREFIX " << arca::services::kServerFlagsUsage
            << " [--threads N] "
               "[--max-in-flight N] [--flush-mib N] [--flush-delay-ms N] "
               "[--verify-blobs=full|frame] [--max-clock-skew DURATION] [--key-file FILE] "
               "[--s3-endpoint URL] "
               "[--s3-addressing=path|virtual] [--s3-ca FILE] [--s3-retries N] "
               "[--s3-timeout SECONDS] [--limit-upload RATE]\n";
  return 2;
}

bool ParseCount(const arca::cli::ParsedArgs& args, const std::string& flag, int min, int max,
                int* out, std::string* error) {
  std::optional<std::string> v = args.Last(flag);
  if (!v) return true;
  if (!absl::SimpleAtoi(*v, out) || *out < min || *out > max) {
    *error =
        absl::StrCat("invalid --", flag, " '", *v, "': expected an integer in ", min, "..", max);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  spec.value_flags.insert({"repo", "threads", "max-in-flight", "flush-mib", "flush-delay-ms",
                           "verify-blobs", "max-clock-skew", "key-file"});
  for (const std::string& f : arca::S3FlagNames()) spec.value_flags.insert(f);
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  std::optional<std::string> repo_dir = args->Last("repo");
  if (!repo_dir || repo_dir->empty()) {
    return Usage("--repo DIR is required (create the repository with `arca init --repo DIR`)");
  }
  int threads = 0, max_in_flight = 0, flush_mib = 32, flush_delay_ms = 100;
  std::string error;
  if (!ParseCount(*args, "threads", 0, 256, &threads, &error) ||
      !ParseCount(*args, "max-in-flight", 0, 1024, &max_in_flight, &error) ||
      !ParseCount(*args, "flush-mib", 1, 4096, &flush_mib, &error) ||
      !ParseCount(*args, "flush-delay-ms", 0, 60000, &flush_delay_ms, &error)) {
    return Usage(error);
  }
  // full (the default): every new blob is decoded and bound to its digest;
  // frame: trusts the compressor (uploader_service.h, BlobCheck).
  arca::services::BlobCheck blob_check = arca::services::BlobCheck::kFull;
  if (std::optional<std::string> v = args->Last("verify-blobs")) {
    if (*v == "frame") {
      blob_check = arca::services::BlobCheck::kFrame;
    } else if (*v != "full") {
      return Usage("invalid --verify-blobs '" + *v + "': expected full (the default) or frame");
    }
  }
  absl::Duration max_clock_skew = arca::services::kDefaultMaxClockSkew;
  if (std::optional<std::string> v = args->Last("max-clock-skew")) {
    absl::StatusOr<absl::Duration> d = arca::services::ParseDurationFlag("max-clock-skew", *v);
    if (!d.ok()) return Usage(std::string(d.status().message()));
    max_clock_skew = *d;
  }
  if (absl::Status st = arca::CheckRepositoryLocation(*repo_dir); !st.ok()) {
    return Usage(std::string(st.message()));
  }
  arca::RepositoryOpenOptions open_options;
  for (const std::string& f : arca::S3FlagNames()) {
    if (std::optional<std::string> v = args->Last(f)) {
      if (absl::Status st = arca::ApplyS3Flag(f, *v, &open_options.s3); !st.ok()) {
        return Usage(std::string(st.message()));
      }
    }
  }
  if (absl::Status st = arca::CheckRepositoryOpenOptions(*repo_dir, open_options); !st.ok()) {
    return Usage(std::string(st.message()));
  }
  // The key file is read (and checked) before anything is opened; it
  // unlocks exactly its own slot. Its bytes never reach a message.
  std::optional<arca::KeyFileSecret> key_file;
  if (std::optional<std::string> path = args->Last("key-file")) {
    absl::StatusOr<arca::KeyFileSecret> parsed = arca::ReadKeyFile(*path);
    if (!parsed.ok()) {
      return Usage(absl::StrCat(parsed.status().message(), " (given with --key-file)"));
    }
    key_file = *std::move(parsed);
  }
  const std::string repo_name = *repo_dir;
  open_options.secret =
      [&key_file, repo_name](const arca::Repository&) -> absl::StatusOr<arca::RepositorySecret> {
    if (!key_file.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the repository ", repo_name,
          " is encrypted: start the uploader with --key-file FILE (a key file of the repository, "
          "made by `arca init --new-key-file` or `arca key add --new-key-file`)"));
    }
    return arca::RepositorySecret{.key_file = *key_file};
  };
  // arca_uploader_s3_requests_total{op,code}, latency, retries.
  static arca::metrics::S3Metrics* s3_metrics =
      new arca::metrics::S3Metrics(*arca::metrics::ProcessRegistry(), "arca_uploader_s3");
  open_options.s3_observer = s3_metrics;
  absl::StatusOr<std::unique_ptr<arca::Repository>> repo =
      arca::OpenRepositoryAt(*repo_dir, open_options);
  if (!repo.ok()) {
    std::cerr << kProgram << ": " << repo.status().message() << " (exit 4)\n";
    return 4;
  }
  if ((*repo)->encrypted()) {
    std::cerr << kProgram << ": repository " << (*repo)->path() << " is encrypted, unlocked with "
              << "the key file's slot " << (*repo)->unlocked_slot_id() << " (key "
              << (*repo)->key()->fingerprint() << ")\n";
  } else if (key_file.has_value()) {
    std::cerr << kProgram << ": repository " << (*repo)->path()
              << " is not encrypted: --key-file is not used\n";
  }
  arca::services::UploaderService service(repo->get(),
                                          {.threads = threads,
                                           .max_in_flight = static_cast<size_t>(max_in_flight),
                                           .flush_bytes = static_cast<uint64_t>(flush_mib) << 20,
                                           .flush_delay = absl::Milliseconds(flush_delay_ms),
                                           .blob_check = blob_check,
                                           .max_clock_skew = max_clock_skew});
  return arca::services::RunServer(kProgram, *flags, {&service},
                                   {.health_names = {arca::v1::Uploader::service_full_name()}});
}
