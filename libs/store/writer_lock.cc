#include "libs/store/writer_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/base/fnv1a.h"
#include "libs/base/status_macros.h"
#include "libs/store/file_io.h"

namespace arca {
namespace {

std::string S(std::string_view v) { return std::string(v); }

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace {

absl::Status LockFileHeld(const std::string& path, const std::string& repo) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return absl::OkStatus();
  if (errno != ENOENT) return ErrnoStatus(errno, "stat", path, repo, false);
  return absl::AbortedError(absl::StrCat(
      "writer lock ", path, " was removed (a gc found it stale: no heartbeat for ",
      kWriterLockStaleSeconds / 60,
      " minutes?); chunks this backup relied on may have been collected: run the backup again"));
}

WriterLockOps LockFileOps(std::string path) {
  const std::string repo = path.substr(0, path.rfind("/locks/"));
  WriterLockOps ops;
  ops.path = path;
  ops.held = [path, repo] { return LockFileHeld(path, repo); };
  ops.refresh = [path, repo]() -> absl::Status {
    if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0) return absl::OkStatus();
    if (errno == ENOENT) return LockFileHeld(path, repo);
    return ErrnoStatus(errno, "refresh the heartbeat of", path, repo, true);
  };
  ops.release = [path] { ::unlink(path.c_str()); };
  return ops;
}

}  // namespace

WriterLock::WriterLock(std::string path, int64_t start_unix_ns, int64_t heartbeat_seconds)
    : WriterLock(LockFileOps(std::move(path)), start_unix_ns, heartbeat_seconds) {}

WriterLock::WriterLock(WriterLockOps ops, int64_t start_unix_ns, int64_t heartbeat_seconds)
    : ops_(std::move(ops)), start_unix_ns_(start_unix_ns) {
  if (heartbeat_seconds > 0) {
    heartbeat_ = std::thread([this, heartbeat_seconds] { HeartbeatLoop(heartbeat_seconds); });
  }
}

WriterLock::~WriterLock() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  if (ops_.release) ops_.release();
}

void WriterLock::HeartbeatLoop(int64_t interval_seconds) {
  absl::MutexLock l(&mu_);
  while (true) {
    const absl::Time deadline = absl::Now() + absl::Seconds(interval_seconds);
    while (!stop_ && absl::Now() < deadline)
      mu_.AwaitWithDeadline(absl::Condition(&stop_), deadline);
    if (stop_) return;
    mu_.Unlock();
    // A lost lock is reported by Held() before the commit; nothing to do here.
    (void)Heartbeat();
    mu_.Lock();
  }
}

absl::Status WriterLock::Heartbeat() { return ops_.refresh(); }

absl::Status WriterLock::Held() { return ops_.held(); }

std::string WriterLockHostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return host;
}

std::string WriterLockStaleReason(const WriterLockInfo& lock, std::string_view this_host,
                                  int64_t now_unix_ns, int64_t stale_after_ns) {
  if (lock.host == this_host && lock.pid > 0 && ::kill(static_cast<pid_t>(lock.pid), 0) != 0 &&
      errno == ESRCH) {
    return absl::StrCat("process ", lock.pid, " on this host (", lock.host, ") is gone");
  }
  if (lock.heartbeat_unix_ns < now_unix_ns - stale_after_ns) {
    return absl::StrCat("no heartbeat for ", (now_unix_ns - lock.heartbeat_unix_ns) / 1000000000,
                        " s (limit ", stale_after_ns / 1000000000, " s)");
  }
  return "";
}

std::string WriterLockTempHostTag(std::string_view host) {
  const bool safe =
      !host.empty() && host.size() <= 64 && std::all_of(host.begin(), host.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
      });
  if (safe) return S(host);
  const uint64_t h = Fnv1a64(host);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "_";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(h >> shift) & 15]);
  return out;
}

std::string WriterLockTempName(int64_t pid, std::string_view host) {
  return absl::StrCat(kTempPrefix, pid, "-", WriterLockTempHostTag(host), "-", RandomHex16());
}

std::optional<WriterLockTempNameParts> ParseWriterLockTempName(std::string_view name_sv) {
  const absl::string_view name(name_sv.data(), name_sv.size());
  if (!absl::StartsWith(name, kTempPrefix)) return std::nullopt;
  const absl::string_view rest = name.substr(kTempPrefix.size());
  const size_t first = rest.find('-');
  const size_t last = rest.rfind('-');
  if (first == absl::string_view::npos || last <= first + 1 || last + 1 == rest.size()) {
    return std::nullopt;  // old style, or an empty part
  }
  const absl::string_view pid_text = rest.substr(0, first);
  WriterLockTempNameParts parts;
  if (pid_text.empty() ||
      !std::all_of(pid_text.begin(), pid_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(pid_text, &parts.pid) || parts.pid <= 0) {
    return std::nullopt;
  }
  parts.host_tag = std::string(rest.substr(first + 1, last - first - 1));
  parts.random = std::string(rest.substr(last + 1));
  return parts;
}

std::string WriterLockTempDeadReason(std::string_view name, std::string_view this_host) {
  const std::optional<WriterLockTempNameParts> parts = ParseWriterLockTempName(name);
  if (!parts.has_value() || parts->host_tag != WriterLockTempHostTag(this_host)) return "";
  if (::kill(static_cast<pid_t>(parts->pid), 0) == 0 || errno != ESRCH) return "";
  return absl::StrCat("process ", parts->pid, " on this host (", S(this_host), ") is gone");
}

std::string FormatWriterLockText(int64_t pid, std::string_view host, int64_t start_unix_ns,
                                 std::string_view description) {
  return absl::StrCat("pid=", pid, "\nhost=", absl::CEscape(S(host)),
                      "\nstart_unix_ns=", start_unix_ns,
                      "\ndescription=", absl::CEscape(S(description)), "\n");
}

void ParseWriterLockText(std::string_view text, WriterLockInfo* info) {
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    const absl::string_view key = line.substr(0, eq);
    const std::string value(line.substr(eq + 1));
    int64_t v = 0;
    std::string unescaped;
    if (key == "pid" && absl::SimpleAtoi(value, &v)) info->pid = v;
    if (key == "start_unix_ns" && absl::SimpleAtoi(value, &v)) info->start_unix_ns = v;
    if (key == "host" && absl::CUnescape(value, &unescaped)) info->host = unescaped;
    if (key == "description" && absl::CUnescape(value, &unescaped)) {
      info->description = unescaped;
    }
  }
}

absl::StatusOr<std::unique_ptr<WriterLock>> CreateWriterLock(const std::string& repo,
                                                             std::string_view description,
                                                             int64_t heartbeat_seconds) {
  const std::string locks_dir = absl::StrCat(repo, "/locks");
  if (::mkdir(locks_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "create directory", locks_dir, repo, true);
  }
  const std::string host = WriterLockHostName();
  const int64_t start = NowUnixNs();
  const int64_t pid = ::getpid();
  const std::string name = absl::StrCat(start, "-", pid, "-", RandomHex16(), ".lock");
  const std::string content = FormatWriterLockText(pid, host, start, description);
  RETURN_IF_ERROR(
      WriteFileAtomicallyVia(locks_dir, WriterLockTempName(pid, host), name, content, repo));
  return std::make_unique<WriterLock>(absl::StrCat(locks_dir, "/", name), start, heartbeat_seconds);
}

absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocksIn(const std::string& repo) {
  const std::string locks_dir = absl::StrCat(repo, "/locks");
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(locks_dir, repo));
  std::vector<WriterLockInfo> out;
  for (const std::string& n : names) {
    if (!absl::EndsWith(n, ".lock") || absl::StartsWith(n, ".")) continue;
    WriterLockInfo info;
    info.path = absl::StrCat(locks_dir, "/", n);
    struct stat st;
    if (::stat(info.path.c_str(), &st) != 0) continue;  // released meanwhile
    info.start_unix_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    info.heartbeat_unix_ns = info.start_unix_ns;
    absl::StatusOr<std::string> text = ReadWholeFile(info.path, repo);
    if (text.ok()) ParseWriterLockText(*text, &info);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const WriterLockInfo& a, const WriterLockInfo& b) {
    return a.start_unix_ns < b.start_unix_ns;
  });
  return out;
}

}  // namespace arca
