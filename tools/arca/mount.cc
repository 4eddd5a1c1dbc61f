#include "tools/arca/mount.h"

#include <fuse3/fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/base/cli_flags.h"
#include "libs/base/exit_codes.h"
#include "libs/mount/mount_view.h"
#include "libs/store/open_repository.h"
#include "libs/store/repository_location.h"
#include "tools/arca/repo_args.h"

namespace arca::cli {
namespace {

using mount::Attr;
using mount::MountView;

constexpr double kTimeoutSeconds = 86400;  // the view never changes

constexpr char kMountUsage[] =
    "usage: arca mount [SNAPSHOT|REPO] MOUNTPOINT --repo DIR [--allow-other]";

int Fail(ExitCode code, const std::string& message) {
  std::cerr << "arca: " << message << " (exit " << static_cast<int>(code) << ")\n";
  return static_cast<int>(code);
}

// The state the FUSE callbacks reach through fuse_req_userdata.
struct Context {
  MountView* view = nullptr;
  std::vector<uint8_t> buffer;  // read replies
};

Context& Ctx(fuse_req_t req) { return *static_cast<Context*>(fuse_req_userdata(req)); }

timespec Timespec(int64_t ns) {
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --sec;
  }
  return timespec{static_cast<time_t>(sec), static_cast<long>(rem)};
}

struct stat Stat(const Attr& a) {
  struct stat st = {};
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>(a.blocks);
  st.st_blksize = 4096;
  st.st_rdev = a.rdev;
  st.st_atim = Timespec(a.atime_ns);
  st.st_mtim = Timespec(a.mtime_ns);
  st.st_ctim = Timespec(a.ctime_ns);
  return st;
}

// Replies with the errno for `st`: ENOENT for NotFound (or `not_found`),
// `precondition` for FailedPrecondition, EIO for everything else, which is
// also reported on stderr (damaged data: the reader sees EIO).
void ReplyError(fuse_req_t req, const absl::Status& st, int precondition = EINVAL,
                int not_found = ENOENT) {
  int err = EIO;
  switch (st.code()) {
    case absl::StatusCode::kNotFound:
      err = not_found;
      break;
    case absl::StatusCode::kFailedPrecondition:
      err = precondition;
      break;
    default:
      std::cerr << "arca: mount: " << st.message() << " (the reader gets EIO)\n";
      break;
  }
  fuse_reply_err(req, err);
}

void ReplyEntry(fuse_req_t req, const Attr& a) {
  fuse_entry_param e = {};
  e.ino = a.ino;
  e.generation = 1;
  e.attr = Stat(a);
  e.attr_timeout = kTimeoutSeconds;
  e.entry_timeout = kTimeoutSeconds;
  fuse_reply_entry(req, &e);
}

void OnInit(void* userdata, fuse_conn_info* conn) {
  // ACLs are served as system.posix_acl_* xattrs; the kernel checks them
  // (with default_permissions) and passes them to getfacl.
  if (conn->capable & FUSE_CAP_POSIX_ACL) conn->want |= FUSE_CAP_POSIX_ACL;
}

void OnLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  absl::StatusOr<Attr> a = Ctx(req).view->Lookup(parent, name);
  if (!a.ok()) return ReplyError(req, a.status(), ENOTDIR);
  ReplyEntry(req, *a);
}

void OnForget(fuse_req_t req, fuse_ino_t, uint64_t) {
  // Inode numbers are stable without lookup counts: nothing to release.
  fuse_reply_none(req);
}

void OnForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void OnGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  absl::StatusOr<Attr> a = Ctx(req).view->GetAttr(ino);
  if (!a.ok()) return ReplyError(req, a.status());
  struct stat st = Stat(*a);
  fuse_reply_attr(req, &st, kTimeoutSeconds);
}

void OnReadLink(fuse_req_t req, fuse_ino_t ino) {
  absl::StatusOr<std::string> t = Ctx(req).view->ReadLink(ino);
  if (!t.ok()) return ReplyError(req, t.status(), EINVAL);
  fuse_reply_readlink(req, t->c_str());
}

void OnOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return (void)fuse_reply_err(req, EROFS);
  // Read-ahead threads start here: they must not take the signals the
  // signal thread waits for (they inherit this thread's mask, which blocks
  // them; see RunMount).
  absl::StatusOr<uint64_t> h = Ctx(req).view->Open(ino);
  if (!h.ok()) return ReplyError(req, h.status(), EISDIR);
  fi->fh = *h;
  fi->keep_cache = 1;  // the content never changes
  if (fuse_reply_open(req, fi) != 0) Ctx(req).view->Release(*h);
}

void OnRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Context& c = Ctx(req);
  if (c.buffer.size() < size) c.buffer.resize(size);
  absl::StatusOr<size_t> n =
      c.view->Read(fi->fh, static_cast<uint64_t>(off), std::span<uint8_t>(c.buffer.data(), size));
  if (!n.ok()) return ReplyError(req, n.status(), EIO, EBADF);
  fuse_reply_buf(req, reinterpret_cast<const char*>(c.buffer.data()), *n);
}

void OnRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Ctx(req).view->Release(fi->fh);
  fuse_reply_err(req, 0);
}

void OnReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::vector<char> buf(size);
  size_t used = 0;
  absl::Status st = Ctx(req).view->ReadDir(
      ino, static_cast<uint64_t>(off),
      [&](std::string_view name, uint64_t child, uint32_t mode, uint64_t next) {
        const std::string n(name);
        struct stat s = {};
        s.st_ino = child;
        s.st_mode = mode;
        const size_t need = fuse_add_direntry(req, nullptr, 0, n.c_str(), nullptr, 0);
        if (used + need > size) return false;
        fuse_add_direntry(req, buf.data() + used, size - used, n.c_str(), &s,
                          static_cast<off_t>(next));
        used += need;
        return true;
      });
  if (!st.ok()) return ReplyError(req, st, ENOTDIR);
  fuse_reply_buf(req, buf.data(), used);
}

void OnStatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs sv = {};
  sv.f_bsize = 4096;
  sv.f_frsize = 4096;
  sv.f_namemax = 255;
  sv.f_flag = ST_RDONLY;
  fuse_reply_statfs(req, &sv);
}

void OnGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  absl::StatusOr<std::string> v = Ctx(req).view->GetXattr(ino, name);
  if (!v.ok()) return ReplyError(req, v.status(), ENODATA, ENODATA);
  if (size == 0) return (void)fuse_reply_xattr(req, v->size());
  if (size < v->size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v->data(), v->size());
}

void OnListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  absl::StatusOr<std::vector<std::string>> names = Ctx(req).view->ListXattr(ino);
  if (!names.ok()) return ReplyError(req, names.status());
  std::string list;
  for (const std::string& n : *names) list.append(n.c_str(), n.size() + 1);
  if (size == 0) return (void)fuse_reply_xattr(req, list.size());
  if (size < list.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, list.data(), list.size());
}

fuse_lowlevel_ops Operations() {
  fuse_lowlevel_ops ops = {};
  ops.init = OnInit;
  ops.lookup = OnLookup;
  ops.forget = OnForget;
  ops.forget_multi = OnForgetMulti;
  ops.getattr = OnGetAttr;
  ops.readlink = OnReadLink;
  ops.open = OnOpen;
  ops.read = OnRead;
  ops.release = OnRelease;
  ops.readdir = OnReadDir;
  ops.statfs = OnStatFs;
  ops.getxattr = OnGetXattr;
  ops.listxattr = OnListXattr;
  return ops;
}

// SIGINT, SIGTERM and SIGHUP: blocked in every thread, taken by sigwait in
// the signal thread, which stops the FUSE loop and interrupts its read with
// SIGUSR1 (a no-op handler without SA_RESTART) until the loop is gone.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void OnWakeUp(int) {}

// Waits for the stop signals from the start of the command. Before a FUSE
// session is attached (opening the repository, building a tree) a signal
// ends the process at once (exit 130: nothing is mounted yet); afterwards it
// stops the session's loop. Its destructor, once the loop has returned (or
// the command failed before), ends the thread.
class SignalThread {
 public:
  SignalThread() { thread_ = std::thread([this] { Run(); }); }
  ~SignalThread() {
    Detach();
    pthread_kill(thread_.native_handle(), SIGTERM);  // ends its sigwait
    thread_.join();
  }

  // The loop has returned, or will never run: signals are ignored from now
  // on (the session may be unmounted and destroyed safely).
  void Detach() {
    absl::MutexLock lock(&mu_);
    loop_done_ = true;
  }

  // From now on a signal stops `se`'s loop, run by thread `loop`. Call
  // before fuse_session_mount, so no mount can outlive a signal.
  void Attach(fuse_session* se, pthread_t loop) {
    absl::MutexLock lock(&mu_);
    se_ = se;
    loop_ = loop;
  }

 private:
  void Run() {
    sigset_t set = StopSignals();
    int sig = 0;
    sigwait(&set, &sig);
    absl::MutexLock lock(&mu_);
    if (loop_done_) return;
    if (se_ == nullptr) {
      std::cerr << "arca: " << strsignal(sig) << ": stopped before mounting (exit 130)\n";
      _exit(static_cast<int>(ExitCode::kCancelled));
    }
    std::cerr << "arca: " << strsignal(sig) << ": unmounting\n";
    fuse_session_exit(se_);
    // Interrupt the loop's read of /dev/fuse until the loop is gone (a
    // signal that lands just before the read starts is repeated).
    while (!loop_done_) {
      pthread_kill(loop_, SIGUSR1);
      mu_.AwaitWithTimeout(absl::Condition(&loop_done_), absl::Milliseconds(100));
    }
  }

  absl::Mutex mu_;
  fuse_session* se_ ABSL_GUARDED_BY(mu_) = nullptr;
  pthread_t loop_ ABSL_GUARDED_BY(mu_) = {};
  bool loop_done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

absl::StatusOr<ParsedArgs> ParseMountArgs(const std::vector<std::string>& argv) {
  FlagSpec spec{{"repo"}, {"allow-other"}};
  AddRepositoryFlags(&spec);
  return ParseArgs(argv, spec);
}

struct Target {
  std::string repo;
  std::string snapshot;  // "" = the whole repository
  std::string mountpoint;
};

// Same local directory (by device and inode) or the same location string.
bool SameLocation(const std::string& a, const std::string& b) {
  if (a == b) return true;
  struct stat sa, sb;
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

absl::StatusOr<Target> ParseTarget(const ParsedArgs& args) {
  const size_t n = args.positional.size();
  if (n < 1 || n > 2) return absl::InvalidArgumentError(kMountUsage);
  Target t;
  t.mountpoint = args.positional[n - 1];
  std::optional<std::string> repo = args.Last("repo");
  if (!repo) {
    if (const char* env = std::getenv("ARCA_REPO"); env && *env) repo = env;
  }
  if (n == 2) {
    const std::string& first = args.positional[0];
    struct stat st;
    const bool names_repository =
        absl::StartsWithIgnoreCase(first, "s3://") ||
        (stat(first.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    if (!repo && names_repository) {
      repo = first;  // REPO MOUNTPOINT
    } else if (repo && !SameLocation(first, *repo)) {
      t.snapshot = first;
    }
  }
  if (!repo) {
    return absl::InvalidArgumentError(
        absl::StrCat("no repository: pass --repo DIR or set ARCA_REPO (or give the repository "
                     "directory as the first argument)\n",
                     kMountUsage));
  }
  t.repo = *repo;
  if (absl::Status st = CheckRepositoryLocation(t.repo); !st.ok()) return st;
  struct stat st;
  if (stat(t.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("mount point '", t.mountpoint,
                                                   "' is not a directory: create it first"));
  }
  return t;
}

}  // namespace

int RunMount(const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseMountArgs(argv);
  if (!args.ok()) return Fail(ExitCode::kUsage, std::string(args.status().message()));
  absl::StatusOr<Target> target = ParseTarget(*args);
  if (!target.ok()) return Fail(ExitCode::kUsage, std::string(target.status().message()));

  // Every thread started from here on (repository clients, read-ahead)
  // inherits a mask that blocks the stop signals: only the signal thread
  // takes them.
  sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  struct sigaction wake = {};
  wake.sa_handler = OnWakeUp;  // no SA_RESTART: interrupts the loop's read
  sigaction(SIGUSR1, &wake, nullptr);
  SignalThread signals;

  absl::StatusOr<RepositoryOpenOptions> opened_options = RepositoryOpenOptionsFromArgs(*args);
  if (!opened_options.ok()) {
    return Fail(ExitCode::kUsage, std::string(opened_options.status().message()));
  }
  const RepositoryOpenOptions& options = *opened_options;
  if (absl::Status st = CheckRepositoryOpenOptions(target->repo, options); !st.ok()) {
    return Fail(ExitCode::kUsage, std::string(st.message()));
  }
  absl::StatusOr<std::unique_ptr<Repository>> repo = OpenRepositoryAt(target->repo, options);
  if (!repo.ok()) return Fail(ExitCode::kRepository, std::string(repo.status().message()));

  mount::MountOptions view_options;
  view_options.uid = getuid();
  view_options.gid = getgid();
  absl::StatusOr<std::unique_ptr<MountView>> view =
      target->snapshot.empty() ? MountView::OpenRepository(**repo, view_options)
                               : MountView::OpenSnapshot(**repo, target->snapshot, view_options);
  if (!view.ok()) {
    const absl::Status& st = view.status();
    ExitCode code = st.code() == absl::StatusCode::kNotFound   ? ExitCode::kUsage
                    : st.code() == absl::StatusCode::kDataLoss ? ExitCode::kVerification
                                                               : ExitCode::kRepository;
    return Fail(code, std::string(st.message()));
  }
  const std::string what = target->snapshot.empty()
                               ? absl::StrCat("repository ", target->repo, " (",
                                              (*view)->snapshots().size(), " snapshots)")
                               : absl::StrCat("snapshot ", (*view)->snapshots()[0].id());

  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    return Fail(ExitCode::kInternal,
                absl::StrCat("cannot mount at '", target->mountpoint, "': /dev/fuse: ",
                             strerror(errno),
                             " (load the fuse module; in a container pass --device /dev/fuse)"));
  }
  std::string fsname = absl::StrCat(
      "fsname=arca:", target->snapshot.empty() ? target->repo : (*view)->snapshots()[0].id());
  // Commas separate options: keep the name from breaking the list.
  for (size_t i = 7; i < fsname.size(); ++i) {
    if (fsname[i] == ',' || fsname[i] == '\\') fsname[i] = '_';
  }
  std::string opts = absl::StrCat("ro,default_permissions,subtype=arca,", fsname,
                                  args->Has("allow-other") ? ",allow_other" : "");
  std::vector<std::string> fuse_argv_storage = {"arca", "-o", opts};
  std::vector<char*> fuse_argv;
  for (std::string& s : fuse_argv_storage) fuse_argv.push_back(s.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  Context ctx;
  ctx.view = view->get();
  fuse_lowlevel_ops ops = Operations();
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof(ops), &ctx);
  fuse_opt_free_args(&fargs);  // what fuse_session_new added to the list
  if (se == nullptr) {
    return Fail(ExitCode::kInternal, absl::StrCat("cannot start FUSE with options '", opts, "'"));
  }
  signals.Attach(se, pthread_self());
  if (fuse_session_mount(se, target->mountpoint.c_str()) != 0) {
    signals.Detach();
    fuse_session_destroy(se);
    return Fail(ExitCode::kInternal,
                absl::StrCat("cannot mount at '", target->mountpoint,
                             "' (see the FUSE message above; as a user, fusermount3 must be "
                             "installed and allow_other needs user_allow_other in /etc/fuse.conf)"));
  }
  std::cerr << "arca: mounted " << what << " at " << target->mountpoint
            << "; unmount with Ctrl-C or fusermount3 -u " << target->mountpoint << std::endl;
  const int res = fuse_session_loop(se);
  signals.Detach();
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  // 0: unmounted from outside (or stopped before the loop read anything);
  // -EINTR: stopped by the signal thread.
  if (res != 0 && res != -EINTR) {
    return Fail(ExitCode::kInternal, absl::StrCat("the FUSE loop failed: ", strerror(-res)));
  }
  std::cerr << "arca: unmounted " << target->mountpoint << "\n";
  return 0;
}

}  // namespace arca::cli
