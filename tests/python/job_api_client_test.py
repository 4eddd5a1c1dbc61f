#!/usr/bin/python3
"""An outside client of the job API: Python, from the protos alone.

Drives a real five-service cluster on loopback through
protos/arca/v1/orchestrator.proto with Debian's python3-grpcio. No arca code
is imported: at test time protoc + grpc_python_plugin generate the stubs from
protos/ (arca.v1 and grpc.health.v1) into a temporary directory, together
with stand-ins of google/rpc/status.proto and ErrorInfo (Debian ships neither
the protos nor grpc_status) to decode the error details generically.

Cases (one unittest method each, run in this order on one cluster):
  1. StartBackup with a client-chosen request_id and labels; WatchJob to the
     final event: increasing sequences, SUCCEEDED, timestamps, labels, id.
  2. A retry after a forced DEADLINE_EXCEEDED with the same request_id
     creates no second job.
  3. ListJobs paging, ordering, a token reused with another filter, a
     filter on type and state; views BASIC and FULL with a real warning.
  4. CancelJob of an ended job (OK, unchanged), unknown id, empty source.
  5. Error details: failed backups' JobStatus (phase, exit code, gRPC
     code); grpc-status-details-bin decoded as google.rpc.Status with an
     ErrorInfo (a phase failure outside a job: Uploader.CommitSnapshot).
  6. grpc.health.v1 on the main port and on --health-listen.
  7. ListSnapshots paging and GetSnapshot("latest").

Run by Bazel (tests/python:job_api_client_test, an sh_test) or by hand from
the workspace after `bazel build //services/... //tools/arca`:
  /usr/bin/python3 tests/python/job_api_client_test.py
Uses /usr/bin/python3 (Debian's modules); `python3` on PATH may lack them.
"""

import glob
import importlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

try:
    import grpc
    import google.protobuf  # noqa: F401  (the generated code needs it)
except ImportError as e:
    sys.stderr.write(
        f"FAIL: {e}: the job API client test needs Debian's python3-grpcio and "
        "python3-protobuf for /usr/bin/python3; run scripts/install-deps.sh\n")
    sys.exit(1)

PROTOC = "/usr/bin/protoc"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"  # protobuf-compiler-grpc
SERVICE_START_TIMEOUT_S = 30.0
SERVICE_STOP_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 10.0
JOB_TIMEOUT_S = 60.0
JOB_ID = re.compile(r"job-[0-9a-z]{26}")

# google.rpc.Status and google.rpc.ErrorInfo with their real field numbers
# (googleapis google/rpc/status.proto, error_details.proto): Debian installs
# neither, and the wire format is all a client needs.
RPC_STATUS_PROTO = """
syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
message Status {
  int32 code = 1;
  string message = 2;
  repeated google.protobuf.Any details = 3;
}
message ErrorInfo {
  string reason = 1;
  string domain = 2;
  map<string, string> metadata = 3;
}
"""

# Set by setUpModule.
GEN_DIR = None
CLUSTER = None
pb = None        # arca.v1.orchestrator_pb2
common_pb = None  # arca.v1.common_pb2
up_pb = None     # arca.v1.uploader_pb2
up_grpc = None
orch_grpc = None
health_pb = None
health_grpc = None
rpc_status_pb = None


def Workspace():
    """(binaries root, protos dir): Bazel runfiles, else this checkout."""
    srcdir = os.environ.get("TEST_SRCDIR") or os.environ.get("RUNFILES_DIR")
    if srcdir:
        root = os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "arca"))
        return root, os.path.join(root, "protos")
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(here))
    return os.path.join(checkout, "bazel-bin"), os.path.join(checkout, "protos")


def GenerateStubs(protos_dir, out_dir):
    """protoc + grpc_python_plugin into out_dir, which goes onto sys.path."""
    for tool in (PROTOC, GRPC_PYTHON_PLUGIN):
        if not os.access(tool, os.X_OK):
            raise RuntimeError(f"{tool} not found: run scripts/install-deps.sh")
    # The stand-in as pyrpc/status.proto (package google.rpc): a generated
    # google/rpc/ would meet the installed google package.
    rpc_dir = os.path.join(out_dir, "protos", "pyrpc")
    os.makedirs(rpc_dir)
    with open(os.path.join(rpc_dir, "status.proto"), "w") as f:
        f.write(RPC_STATUS_PROTO)
    gen = os.path.join(out_dir, "gen")
    os.makedirs(gen)
    files = sorted(os.path.relpath(p, protos_dir)
                   for p in glob.glob(os.path.join(protos_dir, "arca", "v1", "*.proto")))
    # grpc.health.v1 generated as the module pyhealth.health_pb2: a
    # generated grpc/health/v1/ would collide with the grpcio package (the
    # proto package, hence the service name, stays grpc.health.v1).
    health_dir = os.path.join(out_dir, "protos", "pyhealth")
    os.makedirs(health_dir)
    shutil.copy(os.path.join(protos_dir, "grpc", "health", "v1", "health.proto"), health_dir)
    files.append("pyhealth/health.proto")
    argv = [PROTOC, f"-I{protos_dir}", f"-I{os.path.join(out_dir, 'protos')}",
            "-I/usr/include", f"--python_out={gen}", f"--grpc_out={gen}",
            f"--plugin=protoc-gen-grpc={GRPC_PYTHON_PLUGIN}"] + files + [
            "pyrpc/status.proto"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"protoc failed ({r.returncode}): {' '.join(argv)}\n{r.stdout}")
    # Namespace packages: no __init__.py needed (arca/v1/, pyrpc/, pyhealth/).
    sys.path.insert(0, gen)
    return gen


class Service:
    """One service started with --listen=127.0.0.1:0; stdout to a file."""

    def __init__(self, name, argv, log_dir):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(log_dir, f"{name}.stdout")
        self.err_path = os.path.join(log_dir, f"{name}.stderr")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)

    def WaitListening(self, prefix="listening on "):
        """HOST:PORT of the first stdout line starting with `prefix`."""
        deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
        while True:
            with open(self.out_path, errors="replace") as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split()[-1]
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.argv)} exited {self.proc.returncode}:\n"
                                   f"{self.Tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(self.argv)}: no `{prefix}` line within "
                                   f"{SERVICE_START_TIMEOUT_S:.0f} s:\n{self.Tail()}")
            time.sleep(0.02)

    def Tail(self, lines=20):
        try:
            with open(self.err_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class Cluster:
    """arca init, then uploader, compressor, collector, chunker, orchestrator."""

    def __init__(self, root):
        self.services = []
        self.dir = None
        try:
            self.StartAll(root)
        except BaseException:
            self.Close()  # the services started so far, the temp dir
            raise

    def StartAll(self, root):
        self.dir = tempfile.mkdtemp(prefix="arca-pyclient-",
                                    dir=os.environ.get("TEST_TMPDIR"))
        self.src = os.path.join(self.dir, "src")
        self.repo = os.path.join(self.dir, "repo")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.src)
        os.makedirs(self.logs)
        binary = lambda n: os.path.join(root, "services", n, n)
        arca = os.path.join(root, "tools", "arca", "arca")
        r = subprocess.run([arca, "init", "--repo", self.repo], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"arca init exited {r.returncode}: {r.stdout}")
        listen = ["--listen=127.0.0.1:0", "--insecure"]
        addr = self.addresses = {}
        addr["uploader"] = self.Start("uploader",
                                      [binary("uploader"), "--repo", self.repo] + listen)
        addr["compressor"] = self.Start("compressor", [binary("compressor")] + listen)
        addr["collector"] = self.Start("collector", [binary("collector")] + listen + [
            "--peer-insecure", f"--source-root={self.src}"])
        addr["chunker"] = self.Start("chunker", [binary("chunker")] + listen + ["--peer-insecure"])
        orchestrator = Service("orchestrator", [binary("orchestrator")] + listen + [
            f"--{n}={addr[n]}" for n in ("uploader", "compressor", "collector", "chunker")] + [
            "--client-insecure", "--health-listen=127.0.0.1:0", "--health-check-seconds=1",
            "--max-running-jobs=4", f"--state-dir={os.path.join(self.dir, 'state')}"],
            self.logs)
        self.services.append(orchestrator)
        self.health_address = orchestrator.WaitListening("health listening on ")
        self.address = orchestrator.WaitListening("listening on ")
        self.channel = grpc.insecure_channel(self.address)
        self.health_channel = grpc.insecure_channel(self.health_address)
        self.uploader_channel = grpc.insecure_channel(addr["uploader"])

    def Start(self, name, argv):
        s = Service(name, argv, self.logs)
        self.services.append(s)
        return s.WaitListening()

    def Close(self):
        """SIGTERM to every service, SIGKILL after the timeout; the temp dir goes."""
        for ch in (getattr(self, "channel", None), getattr(self, "health_channel", None),
                   getattr(self, "uploader_channel", None)):
            if ch is not None:
                ch.close()
        for s in self.services:
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SERVICE_STOP_TIMEOUT_S
        codes = {}
        for s in self.services:
            try:
                codes[s.name] = s.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                s.proc.kill()
                codes[s.name] = s.proc.wait()
        if os.environ.get("ARCA_PYCLIENT_KEEP"):
            print(f"kept {self.dir}", file=sys.stderr)
        elif self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        return codes


def setUpModule():
    global CLUSTER, pb, common_pb, up_pb, up_grpc, orch_grpc
    global health_pb, health_grpc, rpc_status_pb
    root, protos_dir = Workspace()
    global GEN_DIR
    GEN_DIR = tempfile.mkdtemp(prefix="arca-pyclient-gen-", dir=os.environ.get("TEST_TMPDIR"))
    try:
        GenerateStubs(protos_dir, GEN_DIR)
        pb = importlib.import_module("arca.v1.orchestrator_pb2")
        common_pb = importlib.import_module("arca.v1.common_pb2")
        up_pb = importlib.import_module("arca.v1.uploader_pb2")
        up_grpc = importlib.import_module("arca.v1.uploader_pb2_grpc")
        orch_grpc = importlib.import_module("arca.v1.orchestrator_pb2_grpc")
        rpc_status_pb = importlib.import_module("pyrpc.status_pb2")
        health_pb = importlib.import_module("pyhealth.health_pb2")
        health_grpc = importlib.import_module("pyhealth.health_pb2_grpc")
        CLUSTER = Cluster(root)  # stops what it started if it fails
    except BaseException:
        shutil.rmtree(GEN_DIR, ignore_errors=True)  # tearDownModule will not run
        raise


def tearDownModule():
    if GEN_DIR is not None:
        shutil.rmtree(GEN_DIR, ignore_errors=True)
    if CLUSTER is not None:
        codes = CLUSTER.Close()
        bad = {n: c for n, c in codes.items() if c != 0}
        if bad:
            raise AssertionError(f"services did not exit 0 after SIGTERM: {bad}")


def Stub():
    return orch_grpc.OrchestratorStub(CLUSTER.channel)


def WatchToEnd(job_id):
    """Every JobEvent of WatchJob(job_id) until the stream ends."""
    return list(Stub().WatchJob(pb.WatchJobRequest(id=job_id), timeout=JOB_TIMEOUT_S))


def WaitEnded(job_id):
    events = WatchToEnd(job_id)
    assert events and events[-1].WhichOneof("event") == "final", events
    return events[-1].final


def ErrorInfos(error):
    """The google.rpc.ErrorInfo details of a failed call, decoded generically."""
    infos = []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = rpc_status_pb.Status.FromString(value)
        assert status.code == error.code().value[0], (status, error)
        for any_detail in status.details:
            info = rpc_status_pb.ErrorInfo()
            if any_detail.Unpack(info):
                infos.append(info)
    return infos


def MakeTree(path, files=3, with_socket=False):
    os.makedirs(os.path.join(path, "sub"))
    for i in range(files):
        with open(os.path.join(path, "sub" if i % 2 else "", f"f{i}.txt"), "wb") as f:
            f.write((f"file {i} of {path}\n" * (50 + i)).encode())
    if with_socket:
        # A unix socket: not backed up, reported as a notice (common.proto
        # Warning.data_missing = false). Bound by a relative name (the
        # absolute path may exceed sun_path).
        cwd = os.getcwd()
        os.chdir(path)
        try:
            s = socket.socket(socket.AF_UNIX)
            s.bind("sock")
            s.close()
        finally:
            os.chdir(cwd)


def Ts(ts):
    return ts.seconds * 10**9 + ts.nanos


class JobApiClientTest(unittest.TestCase):
    backup_id = None
    socket_backup_id = None

    def assertRpcError(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as cm:
            call(*args, **kwargs)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception

    def test_1_backup_watch(self):
        source = os.path.join(CLUSTER.src, "tree")
        MakeTree(source)
        request_id = str(uuid.uuid4())
        job = Stub().StartBackup(pb.StartBackupRequest(
            source=source, request_id=request_id, labels={"env": "test"}),
            timeout=RPC_TIMEOUT_S)
        self.assertRegex(job.id, JOB_ID)
        self.assertFullMatch(job.id)
        self.assertEqual(job.type, pb.JOB_TYPE_BACKUP)
        self.assertIn(job.state, (pb.JOB_STATE_QUEUED, pb.JOB_STATE_PENDING,
                                  pb.JOB_STATE_RUNNING))
        self.assertEqual(job.request_id, request_id)
        events = WatchToEnd(job.id)
        self.assertTrue(events)
        sequences = [e.sequence for e in events]
        self.assertTrue(all(a < b for a, b in zip(sequences, sequences[1:])), sequences)
        self.assertGreater(sequences[0], 0)
        kinds = [e.WhichOneof("event") for e in events]
        self.assertEqual(kinds[-1], "final", kinds)
        self.assertNotIn("final", kinds[:-1])
        final = events[-1].final
        self.assertEqual(final.id, job.id)
        self.assertEqual(final.state, pb.JOB_STATE_SUCCEEDED, final.status)
        self.assertEqual(final.status.exit_code, 0)
        self.assertEqual(dict(final.labels), {"env": "test"})
        self.assertEqual(final.request_id, request_id)
        for field in ("create_time", "start_time", "end_time", "update_time"):
            self.assertTrue(final.HasField(field), field)
        self.assertLessEqual(Ts(final.create_time), Ts(final.start_time))
        self.assertLessEqual(Ts(final.start_time), Ts(final.end_time))
        self.assertLess(abs(Ts(final.create_time) / 1e9 - time.time()), 300)
        # The *_unix_ns fields are the same instants.
        self.assertEqual(final.start_unix_ns, Ts(final.create_time))
        self.assertEqual(final.end_unix_ns, Ts(final.end_time))
        self.assertTrue(final.snapshot)
        self.assertEqual(final.stats.files, 3)
        # Labels are usable in filters.
        listed = Stub().ListJobs(pb.ListJobsRequest(filter='labels.env = "test"'),
                                 timeout=RPC_TIMEOUT_S)
        self.assertEqual([j.id for j in listed.jobs], [job.id])
        # A retry of the same request returns the same job.
        again = Stub().StartBackup(pb.StartBackupRequest(
            source=source, request_id=request_id, labels={"env": "test"}),
            timeout=RPC_TIMEOUT_S)
        self.assertEqual(again.id, job.id)
        type(self).backup_id = job.id

    def assertFullMatch(self, job_id):
        self.assertIsNotNone(JOB_ID.fullmatch(job_id), job_id)

    def test_2_retry_after_deadline(self):
        request_id = str(uuid.uuid4())
        request = pb.StartVerifyRequest(request_id=request_id)
        answered = set()
        deadline_exceeded = 0
        # Shrinking is not needed: these all use the same request_id, so
        # whichever attempts reached the server must have made one job.
        # Some rounds of shrinking deadlines: on a fast loopback a whole
        # round may be answered in time, so go on until one expired.
        timeouts = (1e-6, 1e-5, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
        for timeout in timeouts * 5:
            if deadline_exceeded > 0 and timeout == timeouts[0]:
                break
            try:
                answered.add(Stub().StartVerify(request, timeout=timeout).id)
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED, e.details())
                deadline_exceeded += 1
        self.assertGreater(deadline_exceeded, 0, "no attempt hit its deadline")
        retry = Stub().StartVerify(request, timeout=RPC_TIMEOUT_S)
        self.assertFullMatch(retry.id)
        self.assertLessEqual(answered, {retry.id})
        listed = Stub().ListJobs(pb.ListJobsRequest(filter=f'request_id = "{request_id}"'),
                                 timeout=RPC_TIMEOUT_S)
        self.assertEqual([j.id for j in listed.jobs], [retry.id])
        self.assertEqual(listed.total_size, 1)
        final = WaitEnded(retry.id)
        self.assertEqual(final.state, pb.JOB_STATE_SUCCEEDED, final.status)
        self.assertEqual(final.request_id, request_id)
        # After the job ended, still the same job.
        self.assertEqual(Stub().StartVerify(request, timeout=RPC_TIMEOUT_S).id, retry.id)

    def ListAll(self, page_size, **kwargs):
        """Every page of ListJobs; returns (jobs, pages)."""
        jobs, pages, token = [], 0, ""
        while True:
            r = Stub().ListJobs(pb.ListJobsRequest(page_size=page_size, page_token=token,
                                                   **kwargs), timeout=RPC_TIMEOUT_S)
            self.assertLessEqual(len(r.jobs), page_size)
            jobs.extend(r.jobs)
            pages += 1
            self.assertLess(pages, 100)
            if not r.next_page_token:
                return jobs, pages, r.total_size
            token = r.next_page_token

    def test_3_pagination_filter_views(self):
        created = []
        for _ in range(7):
            created.append(Stub().StartVerify(pb.StartVerifyRequest(), timeout=RPC_TIMEOUT_S).id)
        for job_id in created:
            self.assertEqual(WaitEnded(job_id).state, pb.JOB_STATE_SUCCEEDED)
        # A backup with a notice warning (a unix socket in the source).
        source = os.path.join(CLUSTER.src, "with-socket")
        MakeTree(source, with_socket=True)
        sock_job = Stub().StartBackup(pb.StartBackupRequest(source=source),
                                      timeout=RPC_TIMEOUT_S)
        sock_final = WaitEnded(sock_job.id)
        # A notice is not missing data: exit 0, not 3 (common.proto Warning).
        self.assertEqual(sock_final.state, pb.JOB_STATE_SUCCEEDED, sock_final.status)
        type(self).socket_backup_id = sock_job.id

        everything = Stub().ListJobs(pb.ListJobsRequest(page_size=500), timeout=RPC_TIMEOUT_S)
        self.assertFalse(everything.next_page_token)
        all_ids = [j.id for j in everything.jobs]
        self.assertEqual(everything.total_size, len(all_ids))
        self.assertLessEqual(set(created), set(all_ids))

        jobs, pages, total = self.ListAll(3)
        ids = [j.id for j in jobs]
        self.assertEqual(ids, all_ids)  # every job once, same order
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(total, len(ids))
        self.assertEqual(pages, (len(ids) + 2) // 3)
        times = [Ts(j.create_time) for j in jobs]
        self.assertEqual(times, sorted(times))

        desc, _, _ = self.ListAll(3, order_by="create_time desc")
        self.assertEqual([j.id for j in desc], list(reversed(ids)))

        first = Stub().ListJobs(pb.ListJobsRequest(page_size=3), timeout=RPC_TIMEOUT_S)
        self.assertTrue(first.next_page_token)
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().ListJobs,
                            pb.ListJobsRequest(page_size=3, page_token=first.next_page_token,
                                               filter="type = VERIFY"),
                            timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().ListJobs,
                            pb.ListJobsRequest(page_token="not-a-token"), timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().ListJobs,
                            pb.ListJobsRequest(filter="colour = BLUE"), timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().ListJobs,
                            pb.ListJobsRequest(order_by="id"), timeout=RPC_TIMEOUT_S)

        verify_ok, _, _ = self.ListAll(3, filter="type = VERIFY AND state = SUCCEEDED")
        verify_ids = [j.id for j in verify_ok]
        self.assertLessEqual(set(created), set(verify_ids))
        for j in verify_ok:
            self.assertEqual((j.type, j.state), (pb.JOB_TYPE_VERIFY, pb.JOB_STATE_SUCCEEDED))
        expected = [j.id for j in everything.jobs
                    if j.type == pb.JOB_TYPE_VERIFY and j.state == pb.JOB_STATE_SUCCEEDED]
        self.assertEqual(verify_ids, expected)

        # Views: the socket notice is a warning in FULL only.
        full = Stub().GetJob(pb.GetJobRequest(id=sock_job.id), timeout=RPC_TIMEOUT_S)
        self.assertGreaterEqual(full.warning_count, 1)
        self.assertEqual(len(full.warnings), full.warning_count)
        notices = [w for w in full.warnings if b"sock" in w.path]
        self.assertEqual(len(notices), 1, full.warnings)
        self.assertEqual(notices[0].phase, common_pb.PHASE_COLLECTION)
        self.assertFalse(notices[0].data_missing)
        basic = Stub().GetJob(pb.GetJobRequest(id=sock_job.id, view=pb.JOB_VIEW_BASIC),
                              timeout=RPC_TIMEOUT_S)
        self.assertEqual(len(basic.warnings), 0)
        self.assertEqual(basic.warning_count, full.warning_count)
        listed = [j for j in everything.jobs if j.id == sock_job.id]
        self.assertEqual(len(listed), 1)
        self.assertEqual(len(listed[0].warnings), 0)  # ListJobs defaults to BASIC
        self.assertEqual(listed[0].warning_count, full.warning_count)
        listed_full = Stub().ListJobs(pb.ListJobsRequest(
            filter="type = BACKUP", view=pb.JOB_VIEW_FULL), timeout=RPC_TIMEOUT_S)
        by_id = {j.id: j for j in listed_full.jobs}
        self.assertEqual(len(by_id[sock_job.id].warnings), full.warning_count)
        # A GetJob by a unique short prefix.
        short = Stub().GetJob(pb.GetJobRequest(id=sock_job.id[:4 + 26]), timeout=RPC_TIMEOUT_S)
        self.assertEqual(short.id, sock_job.id)

    def test_4_cancel_notfound_invalid(self):
        self.assertIsNotNone(self.backup_id, "test_1 did not run")
        before = Stub().GetJob(pb.GetJobRequest(id=self.backup_id), timeout=RPC_TIMEOUT_S)
        cancelled = Stub().CancelJob(pb.CancelJobRequest(id=self.backup_id),
                                     timeout=RPC_TIMEOUT_S)
        self.assertEqual(cancelled.id, self.backup_id)
        self.assertEqual(cancelled.state, pb.JOB_STATE_SUCCEEDED)
        self.assertEqual(cancelled.status, before.status)
        self.assertEqual(cancelled.end_time, before.end_time)
        after = Stub().GetJob(pb.GetJobRequest(id=self.backup_id), timeout=RPC_TIMEOUT_S)
        self.assertEqual(after.state, pb.JOB_STATE_SUCCEEDED)

        unknown = "job-" + "0" * 26
        e = self.assertRpcError(grpc.StatusCode.NOT_FOUND, Stub().GetJob,
                                pb.GetJobRequest(id=unknown), timeout=RPC_TIMEOUT_S)
        self.assertIn(unknown, e.details())
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, Stub().CancelJob,
                            pb.CancelJobRequest(id=unknown), timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().GetJob,
                            pb.GetJobRequest(id=""), timeout=RPC_TIMEOUT_S)
        with self.assertRaises(grpc.RpcError) as cm:
            list(Stub().WatchJob(pb.WatchJobRequest(id=unknown), timeout=RPC_TIMEOUT_S))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)

        total_before = Stub().ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT_S).total_size
        e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().StartBackup,
                                pb.StartBackupRequest(source=""), timeout=RPC_TIMEOUT_S)
        self.assertIn("source", e.details())
        e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().StartBackup,
                                pb.StartBackupRequest(source="relative/path"),
                                timeout=RPC_TIMEOUT_S)
        self.assertIn("source", e.details())
        e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().StartBackup,
                                pb.StartBackupRequest(source=CLUSTER.src,
                                                      request_id="not a valid id!"),
                                timeout=RPC_TIMEOUT_S)
        self.assertIn("request_id", e.details())
        e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, Stub().StartBackup,
                                pb.StartBackupRequest(source=CLUSTER.src,
                                                      labels={"bad key!": "x"}),
                                timeout=RPC_TIMEOUT_S)
        self.assertIn("label", e.details())
        # A refused Start creates no job.
        total_after = Stub().ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT_S).total_size
        self.assertEqual(total_after, total_before)

    def test_5_error_details(self):
        # A job's own failure is its status, not an RPC error.
        missing = os.path.join(CLUSTER.src, "does-not-exist")
        job = Stub().StartBackup(pb.StartBackupRequest(source=missing), timeout=RPC_TIMEOUT_S)
        final = WaitEnded(job.id)
        self.assertEqual(final.state, pb.JOB_STATE_FAILED)
        self.assertEqual(final.status.failed_phase, common_pb.PHASE_COLLECTION, final.status)
        self.assertEqual(final.status.exit_code, 9, final.status)  # collection (DESIGN.md §5)
        self.assertEqual(final.status.grpc_code, grpc.StatusCode.NOT_FOUND.value[0])
        self.assertIn("does-not-exist", final.status.message)
        self.assertTrue(final.HasField("end_time"))
        self.assertFalse(final.snapshot)
        self.assertTrue(final.group)  # known from the start

        outside = tempfile.mkdtemp(prefix="arca-pyclient-outside-",
                                   dir=os.environ.get("TEST_TMPDIR"))
        try:
            job = Stub().StartBackup(pb.StartBackupRequest(source=outside),
                                     timeout=RPC_TIMEOUT_S)
            final = WaitEnded(job.id)
        finally:
            shutil.rmtree(outside, ignore_errors=True)
        self.assertEqual(final.state, pb.JOB_STATE_FAILED)
        self.assertEqual(final.status.failed_phase, common_pb.PHASE_COLLECTION, final.status)
        self.assertEqual(final.status.grpc_code, grpc.StatusCode.PERMISSION_DENIED.value[0],
                         final.status)
        self.assertNotEqual(final.status.exit_code, 0)

        # RPC errors: google.rpc.Status in grpc-status-details-bin agrees
        # with the call's code; an ErrorInfo is arca's phase form. The job
        # API's job-free errors carry no phase (an unknown snapshot is
        # NOT_FOUND, not a phase failure): any details must still decode.
        e = self.assertRpcError(grpc.StatusCode.NOT_FOUND, Stub().GetSnapshot,
                                up_pb.GetSnapshotRequest(id="no-such-group/2000-01-01T00:00:00Z"),
                                timeout=RPC_TIMEOUT_S)
        self.assertIn("no-such-group", e.details())
        for info in ErrorInfos(e):
            self.AssertArcaErrorInfo(info)
        # A phase failure outside any job, on the uploader the orchestrator
        # uses: a snapshot dated ten years ahead is refused in PHASE_COMMIT.
        uploader = up_grpc.UploaderStub(CLUSTER.uploader_channel)
        commit = up_pb.CommitSnapshotRequest(host="pyclient", source=CLUSTER.src)
        commit.manifest.time_unix_ns = time.time_ns() + 10 * 365 * 86400 * 10**9
        e = self.assertRpcError(grpc.StatusCode.FAILED_PRECONDITION, uploader.CommitSnapshot,
                                commit, timeout=RPC_TIMEOUT_S)
        infos = ErrorInfos(e)
        self.assertEqual(len(infos), 1, e.trailing_metadata())
        self.AssertArcaErrorInfo(infos[0])
        self.assertEqual(infos[0].reason, "PHASE_COMMIT")
        self.assertEqual(infos[0].metadata["exit_code"], "12")  # upload/commit (DESIGN.md §5)

    def AssertArcaErrorInfo(self, info):
        self.assertEqual(info.domain, "arca.dev", info)
        self.assertTrue(common_pb.Phase.Value(info.reason))  # a known Phase name
        self.assertEqual(info.metadata["phase"], info.reason)
        self.assertTrue(info.metadata["exit_code"].isdigit(), info)

    def test_6_health(self):
        for channel in (CLUSTER.channel, CLUSTER.health_channel):
            stub = health_grpc.HealthStub(channel)
            for service in ("", "arca.v1.Orchestrator"):
                deadline = time.monotonic() + 15  # phases are checked every second
                while True:
                    r = stub.Check(health_pb.HealthCheckRequest(service=service),
                                   timeout=RPC_TIMEOUT_S)
                    if (r.status == health_pb.HealthCheckResponse.SERVING or
                            time.monotonic() > deadline):
                        break
                    time.sleep(0.2)
                self.assertEqual(r.status, health_pb.HealthCheckResponse.SERVING,
                                 (channel, service))
            self.assertRpcError(grpc.StatusCode.NOT_FOUND, stub.Check,
                                health_pb.HealthCheckRequest(service="no.such.Service"),
                                timeout=RPC_TIMEOUT_S)
        health_only = orch_grpc.OrchestratorStub(CLUSTER.health_channel)
        self.assertRpcError(grpc.StatusCode.UNIMPLEMENTED, health_only.ListJobs,
                            pb.ListJobsRequest(), timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.UNIMPLEMENTED, health_only.StartBackup,
                            pb.StartBackupRequest(source=CLUSTER.src), timeout=RPC_TIMEOUT_S)

    def test_7_snapshots(self):
        self.assertIsNotNone(self.socket_backup_id, "test_3 did not run")
        whole = Stub().ListSnapshots(up_pb.ListSnapshotsRequest(), timeout=RPC_TIMEOUT_S)
        self.assertGreaterEqual(len(whole.snapshots), 2)
        paged, token = [], ""
        for _ in range(100):
            r = Stub().ListSnapshots(up_pb.ListSnapshotsRequest(page_size=1, page_token=token),
                                     timeout=RPC_TIMEOUT_S)
            self.assertLessEqual(len(r.snapshots), 1)
            paged.extend(s.id for s in r.snapshots)
            token = r.next_page_token
            if not token:
                break
        self.assertEqual(paged, [s.id for s in whole.snapshots])
        self.assertEqual(paged, sorted(paged))
        backup = Stub().GetJob(pb.GetJobRequest(id=self.backup_id), timeout=RPC_TIMEOUT_S)
        self.assertIn(backup.snapshot, paged)

        latest = Stub().GetSnapshot(up_pb.GetSnapshotRequest(id="latest"), timeout=RPC_TIMEOUT_S)
        self.assertTrue(latest.snapshot.id)
        self.assertIn(latest.snapshot.id, paged)
        self.assertTrue(latest.manifest_json)
        self.assertFalse(latest.HasField("metadata_index"))
        one = Stub().GetSnapshot(up_pb.GetSnapshotRequest(id=backup.snapshot),
                                 timeout=RPC_TIMEOUT_S)
        self.assertEqual(one.snapshot.id, backup.snapshot)
        self.assertEqual(one.snapshot.group, backup.group)
        self.assertIn(os.path.join(CLUSTER.src, "tree"), list(one.snapshot.sources))
        self.assertEqual(one.snapshot.stats.files, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
