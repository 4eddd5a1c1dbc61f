#include "services/orchestrator/job_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "services/orchestrator/job_id.h"
#include "services/orchestrator/job_query.h"

namespace arca::services {
namespace {

namespace stdfs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr char kTempPrefix[] = ".tmp-";
constexpr char kSuffix[] = ".json";

absl::Status Errno(const std::string& what, const std::string& path) {
  const int err = errno;
  return absl::ErrnoToStatus(
      err, absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err),
                        "; check --state-dir (a writable directory of the orchestrator's)"));
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open directory", dir);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  errno = err;
  return rc == 0 ? absl::OkStatus() : Errno("fsync directory", dir);
}

// Temp file, fdatasync, rename over `path`, fsync of the directory.
absl::Status WriteAtomically(const std::string& dir, const std::string& path,
                             const std::string& data) {
  const std::string tmp =
      absl::StrCat(dir, "/", kTempPrefix, stdfs::path(path).filename().string(), ".", getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  absl::Status st;
  for (size_t done = 0; done < data.size() && st.ok();) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Errno("write", tmp);
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (st.ok() && fdatasync(fd) != 0) st = Errno("fdatasync", tmp);
  if (close(fd) != 0 && st.ok()) st = Errno("close", tmp);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) st = Errno("rename", tmp);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  return SyncDir(dir);
}

bool Ended(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS ||
         s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELLED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& dir) {
  const std::string jobs = dir + "/jobs";
  std::error_code ec;
  stdfs::create_directories(jobs, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--state-dir ", dir, ": cannot create ", jobs, ": ", ec.message(),
                     "; give a directory the orchestrator can write"));
  }
  // Writable? (access(2) says yes to root on a read-only file system.)
  const std::string probe = absl::StrCat(jobs, "/", kTempPrefix, "probe.", getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--state-dir ", dir, ": cannot write in ", jobs, ": ", std::strerror(errno),
                     "; give a directory the orchestrator can write"));
  }
  close(fd);
  unlink(probe.c_str());
  return std::unique_ptr<JobStore>(new JobStore(jobs));
}

std::string JobStore::PathOf(const std::string& id) const {
  return absl::StrCat(jobs_dir_, "/", id, kSuffix);
}

absl::Status JobStore::Save(const v1::Job& job) {
  if (!IsJobIdShape(job.id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("job id '", job.id().substr(0, 100), "' cannot name a job file"));
  }
  v1::JobRecord record;
  record.set_format_version(kJobRecordFormatVersion);
  *record.mutable_job() = job;
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(record, &json, options).ok()) {
    return absl::InternalError(absl::StrCat("cannot encode job ", job.id(), " as JSON"));
  }
  return WriteAtomically(jobs_dir_, PathOf(job.id()), json);
}

absl::StatusOr<v1::Job> JobStore::Read(const std::string& id) const {
  if (!IsJobIdShape(id)) return absl::InvalidArgumentError("not a job id");
  const std::string path = PathOf(id);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  v1::JobRecord record;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(json, &record, options).ok() ||
      record.job().id() != id) {
    return absl::DataLossError(absl::StrCat(path, " is not a job record of ", id));
  }
  return record.job();
}

absl::Status JobStore::Remove(const std::string& id) {
  const std::string path = PathOf(id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("remove", path);
  return absl::OkStatus();
}

JobStore::Loaded JobStore::Load(int64_t now_unix_ns) {
  Loaded out;
  std::error_code ec;
  std::vector<std::string> names;
  for (const stdfs::directory_entry& e : stdfs::directory_iterator(jobs_dir_, ec)) {
    names.push_back(e.path().filename().string());
  }
  if (ec) {
    out.notes.push_back(
        absl::StrCat("cannot list ", jobs_dir_, ": ", ec.message(), "; no job history loaded"));
    return out;
  }
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(jobs_dir_, "/", name);
    if (absl::StartsWith(name, kTempPrefix)) {
      unlink(path.c_str());  // a write that did not finish
      continue;
    }
    if (!absl::EndsWith(name, kSuffix)) continue;  // *.corrupt and anything else
    const std::string id = name.substr(0, name.size() - std::strlen(kSuffix));
    if (!IsJobIdShape(id)) continue;
    std::ifstream in(path, std::ios::binary);
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    v1::JobRecord record;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    const bool read = in.good() || in.eof();
    const bool parsed =
        read && google::protobuf::util::JsonStringToMessage(json, &record, options).ok();
    if (parsed && record.format_version() > kJobRecordFormatVersion) {
      out.notes.push_back(absl::StrCat(path, " has format ", record.format_version(),
                                       " (this orchestrator reads ", kJobRecordFormatVersion,
                                       "): left as it is, not loaded"));
      continue;
    }
    if (!parsed || record.format_version() == 0 || record.job().id() != id) {
      const std::string corrupt = path + ".corrupt";
      rename(path.c_str(), corrupt.c_str());
      out.notes.push_back(absl::StrCat(path, " is not a job record of ", id, ": moved to ", corrupt,
                                       " and not loaded"));
      continue;
    }
    v1::Job job = record.job();
    if (record.format_version() == 1) {
      job.set_warning_count(static_cast<uint64_t>(job.warnings_size()));  // all of them then
    }
    if (record.format_version() == 1 && !job.has_create_time()) {
      // Format 1 had only start_unix_ns (the creation) and end_unix_ns.
      *job.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(job.start_unix_ns());
      if (job.end_unix_ns() != 0) {
        *job.mutable_end_time() = TimeUtil::NanosecondsToTimestamp(job.end_unix_ns());
      }
    }
    if (!Ended(job.state())) {
      job.set_state(v1::JOB_STATE_FAILED);
      v1::JobStatus* status = job.mutable_status();
      status->set_failed_phase(v1::PHASE_UNSPECIFIED);
      status->set_exit_code(v1::EXIT_CODE_INTERNAL);
      status->set_grpc_code(static_cast<int32_t>(absl::StatusCode::kUnavailable));
      status->set_message(
          "interrupted: the orchestrator stopped while this job ran; its stage call was "
          "cancelled with it, so a backup committed nothing unless `snapshots` lists it: "
          "start the job again");
      job.set_end_unix_ns(now_unix_ns);
      *job.mutable_end_time() = TimeUtil::NanosecondsToTimestamp(now_unix_ns);
      *job.mutable_update_time() = job.end_time();
      if (absl::Status st = Save(job); !st.ok()) {
        out.notes.push_back(
            absl::StrCat("job ", id, " was interrupted; recording that failed: ", st.message()));
      } else {
        out.notes.push_back(absl::StrCat("job ", id,
                                         " was interrupted by the previous "
                                         "orchestrator's end: recorded as FAILED"));
      }
    }
    out.jobs.push_back(std::move(job));
  }
  std::sort(out.jobs.begin(), out.jobs.end(), [](const v1::Job& a, const v1::Job& b) {
    const int64_t ta = JobCreateUnixNs(a), tb = JobCreateUnixNs(b);
    return ta != tb ? ta < tb : a.id() < b.id();
  });
  return out;
}

}  // namespace arca::services
