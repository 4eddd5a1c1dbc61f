#include "libs/testing/rgw_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/base/status_macros.h"

namespace arca::testing {
namespace {

const std::string kAccessKey = "ARCATESTACCESSKEY0001";
const std::string kSecretKey = "arcatestsecretkey0000000000000000000000";
const std::string kRegion = "us-east-1";

// A loopback port that was free a moment ago (bind port 0, read it back).
absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, "bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::string> NewUuid() {
  std::ifstream in("/proc/sys/kernel/random/uuid");
  std::string uuid;
  if (!(in >> uuid)) return absl::UnavailableError("cannot read /proc/sys/kernel/random/uuid");
  return uuid;
}

// The last `max_bytes` of a file, or a note that it cannot be read.
std::string Tail(const std::string& path, size_t max_bytes = 3000) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::StrCat("(no ", path, ")");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

// The conf every ceph command gets with -c. Settings that matter:
// - auth ... required = none: no keyrings between daemons (RGW still checks
//   S3 SigV4 against its users); `keyring` points at an empty file so no
//   tool looks in /etc/ceph.
// - ms bind msgr2 = false and a v1 mon address: one port per daemon, no
//   msgr2 handshake.
// - osd pool default size/min size = 1 with mon allow pool size one: one
//   OSD is enough for active+clean; mon warn on pool no redundancy off.
// - osd crush chooseleaf type = 0: the default rule picks OSDs, not hosts.
// - osd pool default pg num 8: RGW creates about 7 pools; fewer PGs peer
//   faster and stay under mon max pg per osd.
// - memstore device bytes 4 GiB: memstore's size is not a hard limit but
//   PUTs hang once it is "full", so it is generous; memory is only used
//   for what is stored.
// - paxos propose interval 0.01 s (default 1 s): every pool RGW creates
//   and every OSD boot step is a new osdmap epoch, one per second by
//   default; this takes startup from ~12 s to a few seconds.
// - osd crush update on start / osd class update on start = false: the OSD
//   is put in the CRUSH map by hand, and its two start-up mon commands race
//   with its first monmap (the mon sees fsid 0000... and answers "wrong
//   fsid", which the OSD treats as fatal: about one start in three failed).
// - osd mon shutdown timeout: on SIGTERM the OSD otherwise waits 5 s for
//   the mon to acknowledge.
// - run dir, admin socket, log file, mon data, osd data, rgw data: all
//   under the work directory.
// - rgw dns name = localhost: a Host of BUCKET.localhost is virtual-host
//   style; any other Host (127.0.0.1, localhost itself) stays path style.
// - with TLS, beast also listens on ssl_endpoint with the certificate and
//   key from MakeCertificates.
std::string ConfText(const std::string& dir, const std::string& fsid, int mon_port, int rgw_port,
                     int https_port) {
  std::string frontends = absl::StrCat("beast endpoint=127.0.0.1:", rgw_port);
  if (https_port != 0) {
    absl::StrAppend(&frontends, " ssl_endpoint=127.0.0.1:", https_port, " ssl_certificate=", dir,
                    "/tls/server.pem ssl_private_key=", dir, "/tls/server.key");
  }
  return absl::StrCat(
      "[global]\n"
      "fsid = ",
      fsid,
      "\n"
      "mon host = v1:127.0.0.1:",
      mon_port,
      "\n"
      "mon initial members = a\n"
      "public addr = 127.0.0.1\n"
      "ms bind msgr2 = false\n"
      "ms bind ipv6 = false\n"
      "auth cluster required = none\n"
      "auth service required = none\n"
      "auth client required = none\n"
      "auth allow insecure global id reclaim = true\n"
      // The monitor refuses to start when its file system has less than
      // 5 % free (silently, with -f): a throw-away test cluster holds a few
      // MiB, so a nearly full disk must not fail every S3 test.
      "mon data avail crit = 0\n"
      "mon data avail warn = 0\n"
      "keyring = ",
      dir,
      "/keyring\n"
      "run dir = ",
      dir,
      "/run\n"
      "admin socket = ",
      dir,
      "/run/$name.asok\n"
      "log file = ",
      dir,
      "/log/$name.log\n"
      "log to stderr = false\n"
      "err to stderr = true\n"
      "mon cluster log file = ",
      dir,
      "/log/cluster.log\n"
      "osd pool default size = 1\n"
      "osd pool default min size = 1\n"
      "osd pool default pg num = 8\n"
      "osd pool default pgp num = 8\n"
      "osd pool default pg autoscale mode = off\n"
      "mon allow pool size one = true\n"
      "mon warn on pool no redundancy = false\n"
      "mon max pg per osd = 1000\n"
      "osd crush chooseleaf type = 0\n"
      "paxos propose interval = 0.01\n"
      "paxos min wait = 0.001\n"
      "[mon]\n"
      "mon data = ",
      dir,
      "/mon/$id\n"
      "[osd]\n"
      "osd data = ",
      dir,
      "/osd/$id\n"
      "osd journal = ",
      dir,
      "/osd/$id/journal\n"
      "osd objectstore = memstore\n"
      "memstore device bytes = 4294967296\n"
      "osd mon shutdown timeout = 0.5\n"
      "osd crush update on start = false\n"
      "osd class update on start = false\n"
      "[client.rgw]\n"
      "rgw frontends = ",
      frontends,
      "\n"
      "rgw dns name = localhost\n"
      "rgw data = ",
      dir, "/rgw\n");
}

// A socket connected to 127.0.0.1:port, or -1.
int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when something on 127.0.0.1:port answers "HTTP/1." to a GET.
bool AnswersHttp(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  bool ok = false;
  const char kRequest[] = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, kRequest, sizeof(kRequest) - 1, MSG_NOSIGNAL) ==
      static_cast<ssize_t>(sizeof(kRequest) - 1)) {
    pollfd p{fd, POLLIN, 0};
    char buf[16] = {};
    if (poll(&p, 1, 2000) == 1 && recv(fd, buf, 7, MSG_WAITALL) == 7) {
      ok = std::string(buf, 7) == "HTTP/1.";
    }
  }
  close(fd);
  return ok;
}

// True when something accepts a TCP connection on 127.0.0.1:port.
bool Accepts(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// Running: the child has not exited yet (reaps it when it has).
bool Running(Subprocess& p) {
  if (p.reaped()) return false;
  auto r = p.Wait(absl::ZeroDuration());
  return !r.ok() && absl::IsDeadlineExceeded(r.status());
}

}  // namespace

absl::StatusOr<std::unique_ptr<RgwServer>> RgwServer::Start(const std::string& work_dir,
                                                            const RgwServerOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(work_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", work_dir, ": ", ec.message()));
  std::string dir = std::filesystem::absolute(work_dir).lexically_normal().string();
  dir = std::string(absl::StripSuffix(dir, "/"));
  // Ports are probed, then bound by the daemons a moment later: another
  // program (another test's cluster) may take one in between. The mon's fsid
  // is checked before anything is registered, and a failed attempt is
  // retried from scratch on fresh ports.
  absl::Status status;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::unique_ptr<RgwServer> server(new RgwServer(dir, options));
    status = server->Bootstrap();
    if (status.ok()) return server;
    server->StopAll();
    for (const char* sub : {"mon", "osd", "run", "rgw", "tls", "monmap", "ceph.conf"}) {
      std::filesystem::remove_all(server->Path(sub), ec);
    }
  }
  return absl::Status(status.code(), absl::StrCat("after 3 attempts: ", status.message()));
}

RgwServer::~RgwServer() { StopAll(); }

std::string RgwServer::endpoint() const { return absl::StrCat("http://127.0.0.1:", rgw_port_); }
std::string RgwServer::https_endpoint() const {
  return https_port_ == 0 ? "" : absl::StrCat("https://127.0.0.1:", https_port_);
}
const std::string& RgwServer::access_key() const { return kAccessKey; }
const std::string& RgwServer::secret_key() const { return kSecretKey; }
const std::string& RgwServer::region() const { return kRegion; }

std::vector<pid_t> RgwServer::daemon_pids() const {
  std::vector<pid_t> pids;
  for (const auto* p : {&mon_, &osd_, &rgw_}) {
    if (*p != nullptr && !(*p)->reaped()) pids.push_back((*p)->pid());
  }
  return pids;
}

absl::StatusOr<std::unique_ptr<Subprocess>> RgwServer::StartDaemon(const std::string& log_name,
                                                                   std::vector<std::string> argv) {
  SubprocessOptions options;
  options.argv = std::move(argv);
  options.new_process_group = true;
  options.kill_with_parent = true;
  options.working_directory = work_dir_;
  options.stdout_output = SubprocessOutput::File(Path("log/" + log_name + ".stdout"), true);
  options.stderr_output = SubprocessOutput::File(Path("log/" + log_name + ".stderr"), true);
  auto started = Subprocess::Start(options);
  if (!started.ok()) {
    return absl::Status(started.status().code(),
                        absl::StrCat("cannot start ", log_name, ": ", started.status().message()));
  }
  return started;
}

absl::StatusOr<std::string> RgwServer::RunTool(std::vector<std::string> argv,
                                               const std::string& log_name) {
  SubprocessOptions options;
  std::string command = absl::StrJoin(argv, " ");
  options.argv = std::move(argv);
  options.new_process_group = true;
  options.kill_with_parent = true;
  options.working_directory = work_dir_;
  options.stdout_output = SubprocessOutput::Capture(1 << 20);
  options.stderr_output = SubprocessOutput::Capture(8192, SubprocessOutput::Keep::kTail);
  ASSIGN_OR_RETURN(SubprocessResult result,
                   RunSubprocess(options, absl::Seconds(60), absl::Seconds(2)));
  if (result.exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("'", command, "' failed (exit ", result.exit_code,
                     result.timed_out ? ", timed out" : "", "): ", result.stderr_data, "\n--- ",
                     log_name, " log tail:\n", Tail(Path("log/" + log_name + ".log"))));
  }
  return result.stdout_data;
}

absl::Status RgwServer::Bootstrap() {
  for (const char* sub : {"log", "run", "mon", "osd", "rgw"}) {
    std::error_code ec;
    std::filesystem::create_directories(Path(sub), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("cannot create ", Path(sub), ": ", ec.message()));
  }
  ASSIGN_OR_RETURN(mon_port_, FreeLoopbackPort());
  ASSIGN_OR_RETURN(rgw_port_, FreeLoopbackPort());
  if (options_.tls) {
    ASSIGN_OR_RETURN(https_port_, FreeLoopbackPort());
    RETURN_IF_ERROR(MakeCertificates());
  }
  ASSIGN_OR_RETURN(std::string fsid, NewUuid());
  ASSIGN_OR_RETURN(std::string osd_uuid, NewUuid());
  conf_ = Path("ceph.conf");
  {
    std::ofstream out(conf_);
    out << ConfText(work_dir_, fsid, mon_port_, rgw_port_, https_port_);
    std::ofstream keyring(Path("keyring"));
    if (!out || !keyring) return absl::InternalError(absl::StrCat("cannot write ", conf_));
  }
  const std::string mon_addr = absl::StrCat("v1:127.0.0.1:", mon_port_);

  // Monitor.
  RETURN_IF_ERROR(
      RunTool({"monmaptool", "--create", "--add", "a", mon_addr, "--fsid", fsid, Path("monmap")},
              "monmaptool")
          .status());
  RETURN_IF_ERROR(
      RunTool({"ceph-mon", "-c", conf_, "--mkfs", "-i", "a", "--monmap", Path("monmap")}, "mon.a")
          .status());
  ASSIGN_OR_RETURN(mon_, StartDaemon("mon.a", {"ceph-mon", "-c", conf_, "-i", "a", "-f"}));

  ASSIGN_OR_RETURN(std::string mon_fsid,
                   RunTool({"ceph", "-c", conf_, "--connect-timeout", "30", "fsid"}, "mon.a"));
  if (absl::StripAsciiWhitespace(mon_fsid) != fsid) {
    return absl::UnavailableError(absl::StrCat(
        "the monitor on 127.0.0.1:", mon_port_, " has fsid ", absl::StripAsciiWhitespace(mon_fsid),
        ", not ", fsid, ": the port was taken by another cluster; mon.a log tail:\n",
        Tail(Path("log/mon.a.log"))));
  }

  // OSD: registered by hand (no ceph-volume), memstore.
  ASSIGN_OR_RETURN(
      std::string osd_id_out,
      RunTool({"ceph", "-c", conf_, "--connect-timeout", "30", "osd", "new", osd_uuid}, "mon.a"));
  std::string osd_id(absl::StripAsciiWhitespace(osd_id_out));
  std::error_code ec;
  std::filesystem::create_directories(Path("osd/" + osd_id), ec);
  RETURN_IF_ERROR(RunTool({"ceph-osd", "-c", conf_, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid},
                          "osd." + osd_id)
                      .status());
  RETURN_IF_ERROR(
      RunTool({"ceph", "-c", conf_, "osd", "crush", "add", "osd." + osd_id, "1.0", "root=default"},
              "mon.a")
          .status());
  ASSIGN_OR_RETURN(osd_,
                   StartDaemon("osd." + osd_id, {"ceph-osd", "-c", conf_, "-i", osd_id, "-f"}));

  // Gateway, then the S3 user (radosgw-admin waits for the pools as well).
  RETURN_IF_ERROR(StartGateway());
  RETURN_IF_ERROR(RunTool({"radosgw-admin", "-c", conf_, "user", "create", "--uid=arca-test",
                           "--display-name=arca test", "--access-key=" + kAccessKey,
                           "--secret-key=" + kSecretKey},
                          "client.admin")
                      .status());
  return absl::OkStatus();
}

absl::Status RgwServer::MakeCertificates() {
  const std::string tls = Path("tls");
  std::error_code ec;
  std::filesystem::create_directories(tls, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tls, ": ", ec.message()));
  // Extensions for the server certificate: what the client checks.
  {
    std::ofstream ext(tls + "/server.ext");
    ext << "basicConstraints = CA:FALSE\n"
           "keyUsage = critical, digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = IP:127.0.0.1, DNS:localhost\n";
    if (!ext) return absl::InternalError(absl::StrCat("cannot write ", tls, "/server.ext"));
  }
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                           "-nodes"};
  std::vector<std::string> ca = {"openssl",
                                 "req",
                                 "-x509",
                                 "-days",
                                 "2",
                                 "-subj",
                                 "/CN=arca throw-away RGW test CA",
                                 "-keyout",
                                 tls + "/ca.key",
                                 "-out",
                                 tls + "/ca.pem"};
  ca.insert(ca.end(), ec_key.begin(), ec_key.end());
  std::vector<std::string> csr = {"openssl",
                                  "req",
                                  "-new",
                                  "-subj",
                                  "/CN=localhost",
                                  "-keyout",
                                  tls + "/server.key",
                                  "-out",
                                  tls + "/server.csr"};
  csr.insert(csr.end(), ec_key.begin(), ec_key.end());
  RETURN_IF_ERROR(RunTool(ca, "openssl").status());
  RETURN_IF_ERROR(RunTool(csr, "openssl").status());
  RETURN_IF_ERROR(RunTool({"openssl", "x509", "-req", "-days", "2", "-in", tls + "/server.csr",
                           "-CA", tls + "/ca.pem", "-CAkey", tls + "/ca.key", "-set_serial", "2",
                           "-extfile", tls + "/server.ext", "-out", tls + "/server.pem"},
                          "openssl")
                      .status());
  ca_file_ = tls + "/ca.pem";
  return absl::OkStatus();
}

absl::Status RgwServer::WaitForHttp(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (AnswersHttp(rgw_port_) && (https_port_ == 0 || Accepts(https_port_))) {
      return absl::OkStatus();
    }
    for (auto* p : {&mon_, &osd_, &rgw_}) {
      if (*p != nullptr && !Running(**p)) {
        std::string name = p == &mon_ ? "mon.a" : p == &osd_ ? "osd.0" : "client.rgw";
        return absl::UnavailableError(
            absl::StrCat(name, " exited while waiting for radosgw on port ", rgw_port_,
                         "; stderr:\n", Tail(Path("log/" + name + ".stderr"), 1000),
                         "\n--- log tail:\n", Tail(Path("log/" + name + ".log"))));
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(absl::StrCat("radosgw did not answer HTTP on 127.0.0.1:", rgw_port_,
                                             " within ", absl::FormatDuration(timeout),
                                             "; log tail:\n", Tail(Path("log/client.rgw.log"))));
}

absl::Status RgwServer::StartGateway() {
  if (rgw_ != nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(rgw_,
                   StartDaemon("client.rgw", {"radosgw", "-c", conf_, "-n", "client.rgw", "-f"}));
  return WaitForHttp(absl::Seconds(60));
}

absl::Status RgwServer::StopGateway() {
  if (rgw_ == nullptr) return absl::OkStatus();
  auto result = rgw_->Terminate(absl::Seconds(5));
  rgw_.reset();
  if (!result.ok()) return result.status();
  return absl::OkStatus();
}

void RgwServer::StopAll() {
  // Gateway first (it is a client of the cluster), then OSD, then mon.
  for (auto* p : {&rgw_, &osd_, &mon_}) {
    if (*p != nullptr) {
      (void)(*p)->Terminate(absl::Seconds(3));
      p->reset();
    }
  }
}

absl::Status RgwServer::CreateBucket(const std::string& name) {
  SubprocessOptions options;
  options.argv = {"curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4",
                  "aws:amz:" + kRegion + ":s3", "--user", kAccessKey + ":" + kSecretKey,
                  // curl 7.88 does not send it; RGW needs it for SigV4.
                  "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-X", "PUT",
                  endpoint() + "/" + name};
  options.stdout_output = SubprocessOutput::Capture(1 << 16);
  options.stderr_output = SubprocessOutput::Capture(1 << 16);
  ASSIGN_OR_RETURN(SubprocessResult result, RunSubprocess(options, absl::Seconds(30)));
  std::string out = result.stdout_data;
  std::string code = out.substr(out.rfind('\n') + 1);
  if (result.exit_code == 0 && code == "200") return absl::OkStatus();
  absl::StatusCode status_code = absl::StatusCode::kUnavailable;  // no answer
  if (code == "400") status_code = absl::StatusCode::kInvalidArgument;
  if (code == "403") status_code = absl::StatusCode::kPermissionDenied;
  if (code == "409") status_code = absl::StatusCode::kAlreadyExists;
  return absl::Status(
      status_code, absl::StrCat("create bucket '", name, "' at ", endpoint(), ": curl exit ",
                                result.exit_code, ", HTTP ", code, ": ", out, result.stderr_data));
}

}  // namespace arca::testing
