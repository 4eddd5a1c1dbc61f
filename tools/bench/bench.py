#!/usr/bin/python3
"""Whole-command backup benchmark: arca against tar|zstd, restic and borg.

Scenario `distributed` instead compares arca's embedded backup with the same
backup through the five arca services on loopback; scenario `metrics` runs
both with metrics off and on (embedded: --metrics-textfile; distributed:
--metrics-listen on every service, each endpoint scraped once a second during
the run) to show what the metrics cost. Scenario `gc` times `arca gc` on a
synthetic repository of N chunks and 100 snapshots (10 % garbage) against
`restic prune` on a restic repository of N data blobs and 100 snapshots
(10 % unreferenced after `restic forget`). Scenario `s3` starts a throw-away
Ceph RGW (libs/testing:rgw_server_main) and times the first and the unchanged
second backup of arca into a local directory, of arca into s3://, and of
restic into the same RGW. Scenario `mount` backs up one generated file of
mixed data (--mount-mib, 512 MiB: incompressible, text-like and zero MiBs)
and times a sequential read of it through `arca mount` (`cat FILE
>/dev/null`, a fresh mount per run, so nothing comes from the kernel's page
cache of the mount) against `arca restore` of the same snapshot.

Runs every tool N times on the same source directory in one invocation,
interleaving the tools per round (round 1: A B C D, round 2: B C D A, ...),
and prints a Markdown table on stdout. Progress and errors go to stderr, so
`bench.py ... > result.md` keeps the table clean. See README.md for the
meaning of each column and the caveats.

Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import select
import shlex
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

GNU_TIME = "/usr/bin/time"
# %M: max resident set size (KiB), %e: elapsed s, %U: user s, %S: system s.
TIME_FORMAT = "%M %e %U %S"
RESTIC_PASSWORD = "arca-bench"  # restic 0.14 cannot run without one.
STDERR_TAIL_LINES = 20
MIB = 1024 * 1024
SERVICE_NAMES = ("uploader", "compressor", "collector", "chunker",
                 "orchestrator")
SERVICE_START_TIMEOUT_S = 30.0  # until "listening on HOST:PORT"
SERVICE_STOP_TIMEOUT_S = 30.0  # SIGTERM -> SIGKILL


SCRAPE_INTERVAL_S = 1.0  # scenario metrics: like a Prometheus scrape_interval
GC_GARBAGE_AGE_S = 86400  # gc, arca: mtime of the garbage chunk files
GC_TARGET_WALL_S = 60.0  # gc: the issue's target at 1,000,000 chunks
GC_TARGET_RSS_BYTES = 200 * 1000 * 1000  # gc: "200 MB"
RGW_START_TIMEOUT_S = 120.0  # s3: until rgw_server_main prints READY
RGW_STOP_TIMEOUT_S = 30.0  # s3: SIGTERM -> SIGKILL
S3_BUCKET = "arca-bench"
S3_TARGET_VS_LOCAL = 0.6  # s3: arca-S3 throughput / arca-local, at least
S3_TARGET_VS_RESTIC = 2.0  # s3: restic-S3 wall / arca-S3 wall, at least
S3_TARGET_REQUESTS = 100  # s3: requests of the unchanged re-backup, below
MOUNT_START_TIMEOUT_S = 60.0  # mount: until arca prints "arca: mounted"
MOUNT_STOP_TIMEOUT_S = 30.0  # mount: SIGTERM -> SIGKILL
MOUNT_FILE = "mixed.bin"


def ServicesScenario(args):
    """Scenarios whose table compares modes of arca against the embedded one."""
    return args.scenario in ("distributed", "metrics")


def Log(message):
    print(message, file=sys.stderr, flush=True)


def Shell(argv):
    return " ".join(shlex.quote(a) for a in argv)


def RotatedOrder(items, round_index):
    """Round r runs the tools starting at position r: A B C D, B C D A, ..."""
    if not items:
        return []
    k = round_index % len(items)
    return items[k:] + items[:k]


def DiskUsageBytes(path):
    """`du -sb PATH` (apparent size, hard links counted once); 0 if absent."""
    if not os.path.lexists(path):
        return 0
    out = subprocess.run(["du", "-sb", path], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[0])


def RemoveTree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def ParseGnuTime(path):
    """Parses the last line of a `/usr/bin/time -f '%M %e %U %S' -o PATH` file.

    GNU time prepends "Command exited with non-zero status N" (or "Command
    terminated by signal N") on failure, so only the last line holds numbers.
    Returns None if the file is missing or malformed (e.g. time was killed).
    """
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        fields = lines[-1].split()
        return {
            "maxrss_kib": int(fields[0]),
            "elapsed_s": float(fields[1]),
            "user_s": float(fields[2]),
            "sys_s": float(fields[3]),
        }
    except (OSError, IndexError, ValueError):
        return None


def ParseSingleNumber(path):
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        return int(lines[-1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def Tail(path, lines=STDERR_TAIL_LINES):
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return ""


class StepError(Exception):
    """An untimed setup step (init, first backup, ...) failed."""

    def __init__(self, what, returncode, stderr_tail):
        super().__init__(f"{what} exited with {returncode}")
        self.what = what
        self.returncode = returncode
        self.stderr_tail = stderr_tail


def RunUntimed(argv, env, log_dir, label):
    """Runs a setup step; raises StepError with its stderr tail on failure."""
    err_path = os.path.join(log_dir, f"{label}.stderr")
    with open(err_path, "wb") as err:
        rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err).returncode
    if rc != 0:
        raise StepError(Shell(argv), rc, Tail(err_path))


# --------------------------------------------------------------------------
# Tools. Each knows its setup (untimed) and its timed command. `store` is the
# repository or output file whose size is reported.
# --------------------------------------------------------------------------


class Tool:
    name = ""
    label = ""  # row label in the table
    binaries = ()  # executables that must exist
    # Pipeline stages measured separately: list of (stage name, time file).
    stages = ()

    def __init__(self, args, tool_dir):
        self.args = args
        self.source = args.source
        self.dir = tool_dir
        self.store = os.path.join(tool_dir, "repo")

    def Missing(self):
        """Returns a reason string if the tool cannot run, else None."""
        for b in self.binaries:
            if os.path.sep in b:
                if not (os.path.isfile(b) and os.access(b, os.X_OK)):
                    return f"binary not found or not executable: {b}"
            elif shutil.which(b) is None:
                return f"`{b}` not found on PATH"
        return None

    def Env(self):
        env = dict(os.environ)
        env["LC_ALL"] = "C"
        return env

    def EnvDisplay(self):
        """Environment settings worth printing next to the commands."""
        return {}

    def Version(self):
        return ""

    def SetupCommands(self):
        """Untimed commands that create an empty store (after rm -rf)."""
        return []

    def Command(self):
        """The timed command (argv)."""
        raise NotImplementedError

    def FreshStore(self, log_dir):
        RemoveTree(self.store)
        for i, argv in enumerate(self.SetupCommands()):
            RunUntimed(argv, self.Env(), log_dir, f"{self.name}-setup{i}")

    def BeforeTimedRun(self):
        """Untimed per-run preparation (e.g. restoring a tar snapshot file)."""

    def FirstBackupCommand(self):
        """`second`: the command of the tool's first backup (timed once)."""
        return self.Command()

    def StoreBytes(self):
        """Size of everything the tool stored, or None if it stores nothing."""
        return DiskUsageBytes(self.store)

    def AddedBytes(self, before, after):
        """`second`: what one re-backup added to the store."""
        return after - before

    def ParseStdout(self, path):
        """Extra per-run data from the command's stdout, or None."""
        return None

    def AfterTimedRun(self, measurement):
        """Untimed, always runs after a timed run (even if it failed)."""

    def Close(self):
        """Releases everything the tool still holds (processes); idempotent."""


def VersionOf(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


class ArcaTool(Tool):
    name = "arca"
    label = "arca"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.binary = args.arca
        self.binaries = (self.binary,)

    def Version(self):
        return f"{self.binary} (built from the working tree)"

    def SetupCommands(self):
        return [[self.binary, "init", "--repo", self.store]]

    def Command(self):
        return [self.binary, "backup", self.source, "--repo", self.store,
                "--compression", "zstd", "--level", "3", "--json"]

    def ParseStdout(self, path):
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            return {"json_error": str(e)}
        try:
            return {"json": json.loads(text)}
        except ValueError as e:
            return {"json_error": f"stdout is not one JSON document: {e}",
                    "stdout_head": text[:500]}


class ArcaEncryptedTool(ArcaTool):
    """arca's first backup into an encrypted (aes-256-gcm) repository."""
    name = "arca-encrypted"
    label = "arca, encrypted (aes-256-gcm)"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.password_file = os.path.join(tool_dir, "password")

    def Env(self):
        env = super().Env()
        env["ARCA_PASSWORD_FILE"] = self.password_file
        return env

    def EnvDisplay(self):
        return {"ARCA_PASSWORD_FILE": "FILE (one line)"}

    def SetupCommands(self):
        with open(self.password_file, "w") as f:
            f.write("arca bench password\n")
        return [[self.binary, "init", "--repo", self.store, "--encryption",
                 "aes-256-gcm"]]


class ArcaRestoreTool(ArcaTool):
    """`arca restore latest` of the source backed up untimed (plain)."""
    name = "arca-restore"
    label = "arca restore"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.target = os.path.join(tool_dir, "restored")

    def SetupCommands(self):
        return super().SetupCommands() + [super().Command()]

    def BeforeTimedRun(self):
        RemoveTree(self.target)

    def Command(self):
        return [self.binary, "restore", "latest", self.target, "--repo",
                self.store, "--json"]

    def AfterTimedRun(self, measurement):
        RemoveTree(self.target)


class ArcaEncryptedRestoreTool(ArcaRestoreTool, ArcaEncryptedTool):
    """`arca restore latest` from an encrypted repository."""
    name = "arca-encrypted-restore"
    label = "arca restore, encrypted (aes-256-gcm)"

    def SetupCommands(self):
        return ArcaEncryptedTool.SetupCommands(self) + [
            ArcaEncryptedTool.Command(self)]


class ArcaExportTool(ArcaRestoreTool):
    """`arca export latest --format tar.zst -o OUT` of the source backed up
    untimed: against `tar | zstd -3` of the source itself."""
    name = "arca-export"
    label = "arca export --format tar.zst"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.target = os.path.join(tool_dir, "out.tar.zst")

    def BeforeTimedRun(self):
        if os.path.exists(self.target):
            os.unlink(self.target)

    def AfterTimedRun(self, measurement):
        self.BeforeTimedRun()

    def Command(self):
        return [self.binary, "export", "latest", "--repo", self.store,
                "--format", "tar.zst", "-o", self.target]


class ServiceProcess:
    """One arca service started with `--listen=127.0.0.1:0`.

    Its stdout goes to a log file, which is polled for the
    `listening on HOST:PORT` line the service prints once it serves.
    """

    def __init__(self, name, argv, env, log_dir, label):
        self.name = name
        self.argv = argv
        self.address = None
        self.out_path = os.path.join(log_dir, f"{label}-{name}.stdout")
        self.err_path = os.path.join(log_dir, f"{label}-{name}.stderr")
        with open(self.out_path, "wb") as out, \
                open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env,
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)

    def WaitListening(self, timeout_s=SERVICE_START_TIMEOUT_S):
        """Returns HOST:PORT; raises StepError if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with open(self.out_path, errors="replace") as f:
                    for line in f:
                        if line.startswith("listening on "):
                            self.address = line.split()[2]
                            return self.address
            except OSError:
                pass
            rc = self.proc.poll()
            if rc is not None:
                raise StepError(Shell(self.argv), rc, Tail(self.err_path))
            if time.monotonic() > deadline:
                raise StepError(Shell(self.argv) + " (no `listening on` line "
                                f"within {timeout_s:.0f} s)", -1,
                                Tail(self.err_path))
            time.sleep(0.02)

    def Usage(self):
        """{"cpu_s", "peak_rss_kib"} from /proc while it runs, else {}."""
        pid = self.proc.pid
        usage = {}
        try:
            with open(f"/proc/{pid}/stat") as f:
                # Fields after the ")" that ends the command name; utime and
                # stime are fields 14 and 15 (1-based) of the whole line.
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            usage["cpu_s"] = (int(fields[11]) + int(fields[12])) / ticks
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        usage["peak_rss_kib"] = int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
        return usage


def StopProcesses(procs, timeout_s=SERVICE_STOP_TIMEOUT_S):
    """SIGTERM to all, wait; SIGKILL what is still there after timeout_s.

    Returns {name: exit code} (negative: killed by that signal).
    """
    for p in procs:
        if p.proc.poll() is None:
            try:
                p.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + timeout_s
    codes = {}
    for p in procs:
        try:
            codes[p.name] = p.proc.wait(
                timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            Log(f"  {p.name} (pid {p.proc.pid}) still running "
                f"{timeout_s:.0f} s after SIGTERM: SIGKILL")
            p.proc.kill()
            codes[p.name] = p.proc.wait()
    return codes


class ArcaDistributedTool(ArcaTool):
    """`arca --orchestrator=ADDR backup` through the five services.

    Before every timed run (untimed): a fresh repository and five fresh
    services on 127.0.0.1; after it: SIGTERM to all of them, and wait.
    """
    name = "arca-distributed"
    label = "arca distributed (5 services, loopback)"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.services_dir = args.services_dir
        self.service_binaries = {
            n: os.path.join(self.services_dir, n, n) for n in SERVICE_NAMES}
        self.binaries = (self.binary,) + tuple(self.service_binaries.values())
        self.procs = []
        self.orchestrator = None
        self.run_index = 0

    def Version(self):
        return (f"{self.binary} and {self.services_dir}/"
                "{uploader,compressor,collector,chunker,orchestrator} "
                "(built from the working tree)")

    def ServiceArgv(self, name, addresses):
        b = self.service_binaries[name]
        listen = ["--listen=127.0.0.1:0", "--insecure"]
        if name == "uploader":
            return [b, "--repo", self.store] + listen
        if name == "collector":
            # Its reach (default deny): the benchmark's source; no
            # distributed restores are timed, so no --restore-root.
            return [b] + listen + ["--peer-insecure", f"--source-root={self.source}"]
        if name == "chunker":
            return [b] + listen + ["--peer-insecure"]
        if name == "orchestrator":
            return [b] + listen + [
                f"--{n}={addresses.get(n, 'ADDR')}"
                for n in ("uploader", "compressor", "collector", "chunker")
            ] + ["--client-insecure"]
        return [b] + listen

    def FreshStore(self, log_dir):
        self.Close()
        super().FreshStore(log_dir)
        self.run_index += 1
        label = f"{self.name}-services{self.run_index}"
        addresses = {}
        try:
            for name in SERVICE_NAMES:
                p = ServiceProcess(name, self.ServiceArgv(name, addresses),
                                   self.Env(), log_dir, label)
                self.procs.append(p)
                addresses[name] = p.WaitListening()
        except BaseException:
            self.Close()
            raise
        self.orchestrator = addresses["orchestrator"]

    def Command(self):
        return [self.binary, f"--orchestrator={self.orchestrator or 'ADDR'}",
                "--insecure", "backup", self.source,
                "--compression", "zstd", "--level", "3", "--json"]

    def ParseStdout(self, path):
        """The last line that is a JSON object (the final job document)."""
        try:
            with open(path) as f:
                lines = [l for l in f.read().splitlines() if l.strip()]
        except OSError as e:
            return {"json_error": str(e)}
        for line in reversed(lines):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return {"json": doc}
        return {"json_error": "no JSON object line on stdout",
                "stdout_head": "\n".join(lines)[:500]}

    def AfterTimedRun(self, measurement):
        services = {p.name: p.Usage() for p in self.procs}
        codes = StopProcesses(self.procs)
        for name, code in codes.items():
            services.setdefault(name, {})["exit_code_after_sigterm"] = code
            if code != 0:
                Log(f"  warning: {name} exited with {code} after SIGTERM")
        self.procs = []
        measurement["services"] = services
        cpu = [u.get("cpu_s") for u in services.values()]
        rss = [u.get("peak_rss_kib") for u in services.values()]
        if services and all(v is not None for v in cpu):
            measurement["services_cpu_s"] = sum(cpu)
        if services and all(v is not None for v in rss):
            measurement["services_peak_rss_kib_sum"] = sum(rss)

    def Close(self):
        if self.procs:
            StopProcesses(self.procs)
        self.procs = []
        self.orchestrator = None


class ArcaDistributedMtlsTool(ArcaDistributedTool):
    """The distributed backup with mutual TLS on every hop: each service
    serves and calls as its own SPIFFE identity (certificates made once,
    untimed, by tests/distributed/make_certs.sh), every call authorized by
    the role table; the CLI is a client certificate."""
    name = "arca-distributed-mtls"
    label = "arca distributed, mTLS on every hop"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.certs = os.path.join(tool_dir, "certs")
        self.make_certs = os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
            "distributed", "make_certs.sh")

    def Missing(self):
        if not os.path.exists(self.make_certs):
            return f"{self.make_certs} not found"
        return super().Missing()

    def FreshStore(self, log_dir):
        if not os.path.exists(os.path.join(self.certs, "ca.pem")):
            os.makedirs(self.certs, exist_ok=True)
            subprocess.run(["/bin/sh", self.make_certs, self.certs], check=True,
                           stdout=subprocess.DEVNULL)
        super().FreshStore(log_dir)

    def Tls(self, role):
        c = self.certs
        return ["--tls-cert", f"{c}/{role}.pem", "--tls-key", f"{c}/{role}.key",
                "--tls-client-ca", f"{c}/ca.pem"]

    def ServiceArgv(self, name, addresses):
        argv = super().ServiceArgv(name, addresses)
        argv = [a for a in argv if a not in ("--insecure", "--peer-insecure",
                                              "--client-insecure")]
        return argv + self.Tls(name)

    def Command(self):
        c = self.certs
        argv = super().Command()
        i = argv.index("--insecure")
        return argv[:i] + ["--tls-ca", f"{c}/ca.pem", "--tls-cert",
                           f"{c}/client.pem", "--tls-key",
                           f"{c}/client.key"] + argv[i + 1:]


class ArcaTextfileTool(ArcaTool):
    """The embedded backup writing its job metrics with --metrics-textfile."""
    name = "arca-textfile"
    label = "arca embedded + --metrics-textfile"

    def Command(self):
        return super().Command() + [
            "--metrics-textfile", os.path.join(self.dir, "arca.prom")]


class Scraper:
    """GETs every /metrics endpoint once per SCRAPE_INTERVAL_S until stopped."""

    def __init__(self, addresses):
        self.addresses = addresses
        self.scrapes = 0
        self.errors = 0
        self.bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.Loop, daemon=True)
        self.thread.start()

    def Loop(self):
        while not self.stop.is_set():
            for a in self.addresses:
                try:
                    with urllib.request.urlopen(f"http://{a}/metrics",
                                                timeout=5) as r:
                        self.bytes += len(r.read())
                    self.scrapes += 1
                except OSError:
                    self.errors += 1
            self.stop.wait(SCRAPE_INTERVAL_S)

    def Stop(self):
        self.stop.set()
        self.thread.join(timeout=10)
        return {"scrapes": self.scrapes, "scrape_errors": self.errors,
                "scraped_bytes": self.bytes}


class ArcaDistributedMetricsTool(ArcaDistributedTool):
    """The distributed backup with --metrics-listen on all five services,
    each endpoint scraped once a second while the backup runs."""
    name = "arca-distributed-metrics"
    label = "arca distributed + /metrics scraped every 1 s"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.scraper = None

    def ServiceArgv(self, name, addresses):
        return super().ServiceArgv(name, addresses) + [
            "--metrics-listen=127.0.0.1:0"]

    def MetricsAddresses(self):
        out = []
        for p in self.procs:
            with open(p.out_path, errors="replace") as f:
                for line in f:
                    if line.startswith("metrics listening on "):
                        out.append(line.split()[3])
        return out

    def BeforeTimedRun(self):
        addresses = self.MetricsAddresses()
        if len(addresses) != len(SERVICE_NAMES):
            raise StepError("metrics endpoints", -1,
                            f"found {addresses} in the services' stdout")
        self.scraper = Scraper(addresses)

    def AfterTimedRun(self, measurement):
        if self.scraper:
            measurement["scraping"] = self.scraper.Stop()
            self.scraper = None
        super().AfterTimedRun(measurement)

    def Close(self):
        if self.scraper:
            self.scraper.Stop()
            self.scraper = None
        super().Close()


class TarZstdTool(Tool):
    """`tar -cf - SRC | zstd -T0 -3 > OUT`, each side under its own time."""
    name = "tar-zstd"
    label = "tar \\| zstd -3"
    binaries = ("bash", "tar", "zstd")

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.store = os.path.join(tool_dir, "out.tar.zst")
        self.stage_times = (("tar", os.path.join(tool_dir, "tar.time")),
                            ("zstd", os.path.join(tool_dir, "zstd.time")))
        self.stages = self.stage_times

    def Version(self):
        return (VersionOf(["tar", "--version"]) + "; " +
                VersionOf(["zstd", "--version"]))

    def TarArgs(self):
        return ["tar", "-cf", "-", self.source]

    def Command(self):
        (_, tar_time), (_, zstd_time) = self.stage_times
        script = (
            "set -o pipefail; "
            f"{GNU_TIME} -f %M -o {shlex.quote(tar_time)} "
            f"{Shell(self.TarArgs())} | "
            f"{GNU_TIME} -f %M -o {shlex.quote(zstd_time)} "
            f"zstd -T0 -3 > {shlex.quote(self.store)}")
        return ["bash", "-c", script]

    def FreshStore(self, log_dir):
        RemoveTree(self.store)


class TarIncrementalZstdTool(TarZstdTool):
    """GNU tar's own incremental mode, the tar-world answer to `second`.

    Setup writes a level-0 archive and its snapshot file (SNAR0); every timed
    run starts from a copy of SNAR0, so each run is the same level-1 dump of
    an unchanged tree.
    """
    name = "tar-g-zstd"
    label = "tar -g \\| zstd -3"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.level0 = os.path.join(tool_dir, "level0.tar.zst")
        self.snar0 = os.path.join(tool_dir, "level0.snar")
        self.snar = os.path.join(tool_dir, "level1.snar")
        self.store = os.path.join(tool_dir, "level1.tar.zst")

    def TarArgs(self):
        return ["tar", f"--listed-incremental={self.snar}", "-cf", "-",
                self.source]

    def FreshStore(self, log_dir):
        for p in (self.level0, self.snar0, self.snar, self.store):
            RemoveTree(p)

    def FirstBackupCommand(self):
        script = (
            "set -o pipefail; "
            f"tar --listed-incremental={shlex.quote(self.snar0)} -cf - "
            f"{shlex.quote(self.source)} | zstd -T0 -3 > "
            f"{shlex.quote(self.level0)}")
        return ["bash", "-c", script]

    def BeforeTimedRun(self):
        shutil.copyfile(self.snar0, self.snar)

    def StoreBytes(self):
        return DiskUsageBytes(self.level0) + DiskUsageBytes(self.store)

    def AddedBytes(self, before, after):
        return DiskUsageBytes(self.store)  # the level-1 archive


class ResticTool(Tool):
    name = "restic"
    label = "restic"
    binaries = ("restic",)

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.cache = os.path.join(tool_dir, "cache")

    def Env(self):
        env = super().Env()
        env["RESTIC_PASSWORD"] = RESTIC_PASSWORD
        return env

    def EnvDisplay(self):
        return {"RESTIC_PASSWORD": RESTIC_PASSWORD}

    def Version(self):
        return VersionOf(["restic", "version"])

    def SetupCommands(self):
        # Format version 2 is the one with (zstd) compression in 0.14.
        return [["restic", "init", "--repo", self.store,
                 "--repository-version", "2", "--cache-dir", self.cache]]

    def FreshStore(self, log_dir):
        RemoveTree(self.cache)
        super().FreshStore(log_dir)

    def Command(self):
        return ["restic", "backup", self.source, "--repo", self.store,
                "--cache-dir", self.cache, "--compression", "auto",
                "--quiet"]


class BorgTool(Tool):
    name = "borg"
    label = "borg zstd,3"
    binaries = ("borg",)

    def Env(self):
        env = super().Env()
        env["BORG_PASSPHRASE"] = ""
        env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
        env["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "yes"
        # Cache (incl. the files cache), config and security dirs stay in
        # the work directory instead of ~/.cache/borg.
        env["BORG_BASE_DIR"] = os.path.join(self.dir, "home")
        return env

    def EnvDisplay(self):
        return {"BORG_PASSPHRASE": "",
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_BASE_DIR": os.path.join(self.dir, "home")}

    def Version(self):
        return VersionOf(["borg", "--version"])

    def SetupCommands(self):
        return [["borg", "init", "--encryption=none", self.store]]

    def FreshStore(self, log_dir):
        RemoveTree(os.path.join(self.dir, "home"))
        super().FreshStore(log_dir)

    def Command(self):
        # Microseconds keep archive names unique when runs are < 1 s apart.
        return ["borg", "create", "--compression", "zstd,3",
                f"{self.store}::bench-{{now:%Y-%m-%dT%H:%M:%S.%f}}",
                self.source]


class FindWalkTool(Tool):
    """Metadata-walk baseline: what "as fast as listing the tree" means."""
    name = "find"
    label = "find walk (baseline)"
    binaries = ("bash", "find")

    def Version(self):
        return VersionOf(["find", "--version"])

    def Command(self):
        script = (f"find {shlex.quote(self.source)} "
                  "-printf '%s %T@ %C@\\n' > /dev/null")
        return ["bash", "-c", script]

    def FreshStore(self, log_dir):
        pass

    def StoreBytes(self):
        return None


# --------------------------------------------------------------------------
# Scenario s3: a throw-away RGW and the three repositories that use it.
# --------------------------------------------------------------------------


class RgwServer:
    """rgw_server_main in its own directory: one per round of `s3`.

    Its stdin is a pipe the harness holds, so the RGW also stops (stdin EOF)
    when the harness dies without running Stop(); its daemons die with it
    (PR_SET_PDEATHSIG).
    """

    def __init__(self, binary, work_dir, log_dir, label):
        self.dir = work_dir
        self.env = {}
        self.err_path = os.path.join(log_dir, f"{label}.stderr")
        self.argv = RgwServer.Argv(binary, work_dir)
        os.makedirs(work_dir, exist_ok=True)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err)

    @staticmethod
    def Argv(binary, work_dir):
        return [binary, "--dir", os.path.join(work_dir, "rgw"),
                "--bucket", S3_BUCKET]

    def WaitReady(self, timeout_s=RGW_START_TIMEOUT_S):
        """Reads KEY=VALUE lines until READY; raises StepError otherwise."""
        lines = []
        reader = threading.Thread(
            target=lambda: lines.extend(
                iter(lambda: self.proc.stdout.readline(), b"")),
            daemon=True)
        # The reader stops at READY's line only at EOF, so poll its list.
        reader.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = [l.decode(errors="replace").strip() for l in list(lines)]
            if "READY" in text:
                for line in text[:text.index("READY")]:
                    key, _, value = line.partition("=")
                    self.env[key] = value
                if not self.env.get("AWS_ENDPOINT_URL"):
                    raise StepError(Shell(self.argv), -1,
                                    "no AWS_ENDPOINT_URL before READY")
                return self.env
            if self.proc.poll() is not None:
                raise StepError(Shell(self.argv), self.proc.returncode,
                                Tail(self.err_path))
            time.sleep(0.05)
        raise StepError(Shell(self.argv), -1,
                        f"no READY within {timeout_s:.0f} s\n"
                        + Tail(self.err_path))

    def Stop(self):
        """SIGTERM (and stdin EOF), SIGKILL after a while; removes its dir."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(RGW_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                Log(f"rgw_server_main {self.proc.pid} ignored SIGTERM for "
                    f"{RGW_STOP_TIMEOUT_S:.0f} s: SIGKILL")
                self.proc.kill()
                self.proc.wait()
        RemoveTree(self.dir)
        return self.proc.returncode


class S3ScenarioTool(Tool):
    """A tool of scenario `s3`: a fresh store per round (Fresh(round)), a
    timed first backup and a timed unchanged second backup (same command:
    arca and restic each find their parent, the snapshot just made)."""
    needs_rgw = False

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.rgw_env = {}
        self.round = 0

    def Missing(self):
        if self.needs_rgw and not (os.path.isfile(self.args.rgw_server) and
                                   os.access(self.args.rgw_server, os.X_OK)):
            return f"rgw_server_main not found: {self.args.rgw_server}"
        return super().Missing()

    def Env(self):
        env = super().Env()
        env.update(self.rgw_env)
        return env

    def Fresh(self, round_number, rgw_env, log_dir):
        self.round = round_number
        self.rgw_env = dict(rgw_env) if self.needs_rgw else {}
        self.FreshStore(log_dir)


class S3ArcaLocalTool(S3ScenarioTool, ArcaTool):
    name = "arca-local"
    label = "arca, local directory"


class S3ArcaTool(S3ArcaLocalTool):
    name = "arca-s3"
    label = "arca, s3:// on RGW"
    needs_rgw = True

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.store = f"s3://{S3_BUCKET}/arca-run{{N}}"

    def FreshStore(self, log_dir):
        self.store = f"s3://{S3_BUCKET}/arca-run{self.round}"
        for i, argv in enumerate(self.SetupCommands()):
            RunUntimed(argv, self.Env(), log_dir, f"{self.name}-setup{i}")

    def EnvDisplay(self):
        return {"AWS_ENDPOINT_URL": "http://127.0.0.1:PORT",
                "AWS_ACCESS_KEY_ID": "...", "AWS_SECRET_ACCESS_KEY": "...",
                "AWS_REGION": "us-east-1"}

    def StoreBytes(self):
        return None  # in the RGW; see bytes_new_stored of --json


class S3ResticTool(S3ScenarioTool, ResticTool):
    name = "restic-s3"
    label = "restic, s3: on RGW"
    needs_rgw = True

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.store = "s3:http://127.0.0.1:PORT/" + S3_BUCKET + "/restic-run{N}"

    def EnvDisplay(self):
        return {"RESTIC_PASSWORD": RESTIC_PASSWORD,
                "AWS_ACCESS_KEY_ID": "...", "AWS_SECRET_ACCESS_KEY": "..."}

    def FreshStore(self, log_dir):
        endpoint = self.rgw_env.get("AWS_ENDPOINT_URL",
                                    "http://127.0.0.1:PORT")
        self.store = f"s3:{endpoint}/{S3_BUCKET}/restic-run{self.round}"
        RemoveTree(self.cache)
        for i, argv in enumerate(self.SetupCommands()):
            RunUntimed(argv, self.Env(), log_dir, f"{self.name}-setup{i}")

    def StoreBytes(self):
        return None


def S3Requests(measurement):
    """The "s3_requests" object of arca's --json stdout, or None."""
    doc = (measurement.get("stdout") or {}).get("json")
    if isinstance(doc, dict) and isinstance(doc.get("s3_requests"), dict):
        return doc["s3_requests"]
    return None


def RunS3Benchmark(args, tools, work, log_dir):
    """Scenario s3. Per round: a fresh RGW (untimed start), then per tool in
    rotated order a fresh repository, a timed first backup and a timed
    unchanged second backup; the RGW is stopped at the end of the round
    (also on errors), which frees its memstore.

    Returns {tool name: {"runs": [first...], "second_runs": [...],
    "rgw_start_s": [...], "failed": ...}}.
    """
    results = {t.name: {"runs": [], "second_runs": [], "failed": None}
               for t in tools}
    active = list(tools)
    rgw_starts = []

    def Fail(tool, what, rc, tail):
        results[tool.name]["failed"] = {"what": what, "exit_code": rc,
                                        "stderr_tail": tail}
        Log(f"  {tool.name}: FAILED ({what}, exit {rc})")
        if tool in active:
            active.remove(tool)

    for r in range(args.runs):
        order = RotatedOrder([t for t in tools if t in active], r)
        if not order:
            break
        Log(f"round {r + 1}/{args.runs}: " + " ".join(t.name for t in order))
        rgw = None
        try:
            rgw_env = {}
            if any(t.needs_rgw for t in order):
                started = time.monotonic()
                rgw = RgwServer(args.rgw_server, os.path.join(work, "rgw"),
                                log_dir, f"rgw-run{r + 1}")
                try:
                    rgw_env = rgw.WaitReady()
                except StepError as e:
                    for t in [t for t in order if t.needs_rgw]:
                        Fail(t, f"setup: {e.what}", e.returncode,
                             e.stderr_tail)
                    order = [t for t in order if not t.needs_rgw]
                rgw_starts.append(time.monotonic() - started)
            for tool in order:
                try:
                    tool.Fresh(r + 1, rgw_env, log_dir)
                except StepError as e:
                    Fail(tool, f"setup: {e.what}", e.returncode,
                         e.stderr_tail)
                    continue
                for kind, key in (("first", "runs"),
                                  ("second", "second_runs")):
                    label = f"{tool.name}-run{r + 1}-{kind}"
                    os.sync()
                    m = TimedRun(tool, tool.Command(), log_dir, label)
                    m["round"] = r + 1
                    m["loadavg_after"] = LoadAverage()
                    os.sync()
                    m["store_bytes"] = tool.StoreBytes()
                    results[tool.name][key].append(m)
                    req = S3Requests(m)
                    Log(f"  {tool.name} {kind}: {m['wall_s']:.2f} s, exit "
                        f"{m['exit_code']}"
                        + (f", {req.get('total')} S3 requests" if req
                           else ""))
                    if m["exit_code"] != 0:
                        Fail(tool, f"run {r + 1} ({kind} backup)",
                             m["exit_code"], m.get("stderr_tail", ""))
                        break
        finally:
            if rgw is not None:
                rc = rgw.Stop()
                if rc != 0:
                    Log(f"rgw_server_main exited with {rc} after SIGTERM "
                        f"(log: {rgw.err_path})")
    for t in tools:
        results[t.name]["rgw_start_s"] = rgw_starts
    return results


def HeaderLines(started, machine):
    """The date and machine lines every report starts with."""
    mem = machine.get("mem_total_bytes")
    return [
        f"- date: {started} (UTC)",
        f"- machine: {machine.get('nproc')} CPUs "
        f"({machine.get('cpu_model', '?')}), "
        f"{Fmt(mem / 2**30 if mem else None, 1)} GiB RAM, "
        f"Linux {machine.get('kernel')}; load average at start "
        f"{machine.get('loadavg_start')}, at end {LoadAverage()}",
    ]


def SourceLine(source_info):
    """The line describing the backed-up tree."""
    b = source_info["regular_file_bytes"]
    return (f"- source: `{source_info['path']}`: "
            f"{source_info['regular_files']} regular files "
            f"({b} bytes = {b / MIB:.1f} MiB, hard "
            f"links once), {source_info['directories']} directories, "
            f"{source_info['symlinks']} symlinks, "
            f"{source_info['other']} other")


def S3Report(args, machine, source_info, warm, tools, skipped, results,
             started, work):
    """The report of scenario `s3`: first and second backups, the ratios
    against the targets and the S3 requests of arca's re-backup."""
    summaries = {}
    for t in tools:
        res = results[t.name]
        summaries[t.name] = {
            "first": Summarize(t, res, "s3"),
            "second": Summarize(t, {"runs": res["second_runs"]}, "s3"),
        }
    src_bytes = source_info["regular_file_bytes"]
    out = [f"# arca bench: scenario `s3`", ""]
    out.extend(HeaderLines(started, machine))
    out.append(SourceLine(source_info))
    starts = next(iter(results.values()), {}).get("rgw_start_s") or []
    out.append(f"- runs: {args.runs} per tool; each round starts a fresh RGW "
               f"(`{args.rgw_server}`, bucket `{S3_BUCKET}`, memstore; "
               f"untimed, median start {Fmt(Median(starts), 1)} s) and stops "
               "it at its end; per tool, in rotated order: fresh repository "
               "(init untimed; prefix `arca-runN` / `restic-runN`), timed "
               "first backup, timed unchanged second backup with the same "
               "command (arca and restic pick the parent themselves: the "
               "snapshot just made; restic keeps its cache between the two)")
    out.append(f"- page cache: warmed once before timing "
               f"({warm['tar_bytes'] / MIB:.1f} MiB in "
               f"{warm['seconds']:.1f} s, untimed); `sync` before and after "
               "every timed run")
    out.append("- the RGW (mon, OSD, radosgw) runs on the same 2 cores as "
               "the client, so S3 rows pay for the server's CPU too; peak "
               "RSS is the client's only (`/usr/bin/time -f %M`)")
    out.append("- MiB/s: source regular-file bytes (2^20) / median wall; "
               "not identical work: restic always encrypts")
    for name, reason in skipped:
        out.append(f"- **skipped {name}**: {reason}")
    out.append("")
    head = ["backup: tool", "median wall s", "min s", "max s", "MiB/s",
            "median CPU s", "median peak RSS MiB", "S3 requests (median)"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for kind, key in (("first", "runs"), ("second", "second_runs")):
        for t in tools:
            s = summaries[t.name][kind]
            ok = [m for m in results[t.name][key] if m["exit_code"] == 0]
            reqs = [S3Requests(m) for m in ok]
            totals = [q.get("total") for q in reqs if q]
            label = t.label
            failed = results[t.name]["failed"]
            if failed:
                label += f" (FAILED: {failed['what']})"
            w = s["wall_median"]
            out.append("| " + " | ".join([
                ("first: " if kind == "first" else "second (unchanged): ")
                + label,
                Fmt(w, 3), Fmt(s["wall_min"], 3), Fmt(s["wall_max"], 3),
                Fmt(src_bytes / MIB / w if w else None, 1),
                Fmt(s["cpu_median"]), Fmt(KibToMib(s["rss_median_kib"]), 1),
                Fmt(Median(totals), 0) if totals else "—"]) + " |")
    out.append("")

    def Wall(name, kind):
        return summaries.get(name, {}).get(kind, {}).get("wall_median")

    def Check(value, ok):
        if value is None:
            return "not measured"
        return "met" if ok(value) else "**NOT met**"

    for kind in ("first", "second"):
        local, s3, restic = (Wall("arca-local", kind), Wall("arca-s3", kind),
                             Wall("restic-s3", kind))
        vs_local = local / s3 if local and s3 else None
        vs_restic = restic / s3 if restic and s3 else None
        if kind == "first":
            out.append(f"- first backup, arca-S3 throughput × arca-local = "
                       f"{Fmt(vs_local)} (target ≥ {S3_TARGET_VS_LOCAL}: "
                       f"{Check(vs_local, lambda v: v >= S3_TARGET_VS_LOCAL)})"
                       f"; restic-S3 wall / arca-S3 wall = {Fmt(vs_restic)} "
                       f"(target ≥ {S3_TARGET_VS_RESTIC}: "
                       f"{Check(vs_restic, lambda v: v >= S3_TARGET_VS_RESTIC)})")
        else:
            out.append(f"- unchanged second backup, arca-S3 throughput × "
                       f"arca-local = {Fmt(vs_local)}; restic-S3 wall / "
                       f"arca-S3 wall = {Fmt(vs_restic)}")
    seconds = [m for m in results.get("arca-s3", {}).get("second_runs", [])
               if m["exit_code"] == 0]
    totals = [S3Requests(m)["total"] for m in seconds if S3Requests(m)]
    worst = max(totals) if totals else None
    out.append(f"- S3 requests of arca's unchanged re-backup: "
               f"{', '.join(str(t) for t in totals) or '—'} (one per run; "
               f"target < {S3_TARGET_REQUESTS} in every run: "
               f"{Check(worst, lambda v: v < S3_TARGET_REQUESTS)})")
    for kind, key in (("first", "runs"), ("second", "second_runs")):
        for m in results.get("arca-s3", {}).get(key, []):
            q = S3Requests(m)
            if q:
                ops = ", ".join(f"{op} {n}" for op, n in
                                sorted(q.get("by_op", {}).items()))
                out.append(f"  - arca-S3 {kind} backup, round {m['round']}: "
                           f"{q.get('total')} requests ({ops}), "
                           f"{q.get('retries')} retries")
    out.append("")
    for t in tools:
        stats = ArcaStats({"runs": results[t.name]["runs"]})
        if stats:
            out.append(f"{t.name} `--json` stats of its last successful "
                       "first backup: " + ", ".join(
                           f"{k}={v}" for k, v in sorted(stats.items())))
            out.append("")
    out.append("Commands (timed; setup commands untimed; the work "
               f"directory {work} is removed at the end unless --keep):")
    out.append("")
    out.append("```")
    out.append(f"setup, each round: {Shell(RgwServer.Argv(args.rgw_server, os.path.join(work, 'rgw')))}"
               "  # prints AWS_* and READY; SIGTERM at the round's end")
    for t in tools:
        env = " ".join(f"{k}={shlex.quote(v)}"
                       for k, v in t.EnvDisplay().items())
        out.append(f"# {t.name}: {t.Version()}")
        for argv in t.SetupCommands():
            out.append(f"setup: {env + ' ' if env else ''}{Shell(argv)}")
        out.append(f"timed twice (first, second): {env + ' ' if env else ''}"
                   f"{GNU_TIME} -f '{TIME_FORMAT}' -o FILE "
                   f"{Shell(t.Command())}")
    out.append("```")
    return "\n".join(out), summaries


# --------------------------------------------------------------------------
# Machine, source and warm-up.
# --------------------------------------------------------------------------


def MachineInfo():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        info["nproc"] = int(subprocess.run(["nproc"], capture_output=True,
                                           text=True).stdout)
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_total_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    info["loadavg_start"] = LoadAverage()
    return info


def LoadAverage():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def SourceInfo(source):
    """Counts entries with lstat, without following symlinks."""
    files = dirs = symlinks = other = 0
    file_bytes = 0
    seen_inodes = set()
    errors = 0

    def OnError(_):
        nonlocal errors
        errors += 1

    for root, dirnames, filenames in os.walk(source, onerror=OnError):
        dirs += 1
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                errors += 1
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                if (st.st_dev, st.st_ino) not in seen_inodes:
                    seen_inodes.add((st.st_dev, st.st_ino))
                    file_bytes += st.st_size
            elif stat.S_ISLNK(st.st_mode):
                symlinks += 1
            else:
                other += 1
    return {"path": source, "regular_files": files, "directories": dirs,
            "symlinks": symlinks, "other": other,
            "regular_file_bytes": file_bytes, "walk_errors": errors}


def WarmPageCache(source):
    """Reads every file once through tar, untimed.

    The output goes through a pipe on purpose: GNU tar does not read file
    contents at all when its archive is /dev/null, so `tar -cf - SRC >
    /dev/null` would only warm the metadata.
    """
    start = time.monotonic()
    proc = subprocess.Popen(["tar", "-cf", "-", source],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    total = 0
    while True:
        block = proc.stdout.read(1 << 20)
        if not block:
            break
        total += len(block)
    rc = proc.wait()
    return {"tar_bytes": total, "seconds": time.monotonic() - start,
            "exit_code": rc}


class ArcaGcTool(ArcaTool):
    """`gc`: arca gc on the synthetic repository of gc_benchmark.

    Untimed once: `gc_benchmark setup REPO N 100`. Untimed before every run:
    `gc_benchmark garbage REPO N`, which re-creates the garbage chunk files
    the previous gc removed and dates all of them a day back, so every run
    collects the same N/10 chunks with arca's default clock slack (5 min).
    Copying the repository instead would cost minutes per run at 1M files.
    """
    name = "arca"
    label = "arca gc"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.gc_benchmark = args.gc_benchmark
        self.binaries = (self.binary, self.gc_benchmark)
        self.setup_info = {}
        self.prepare_s = None

    def SetupCommands(self):
        return [[self.gc_benchmark, "setup", self.store, str(self.args.blobs),
                 str(self.args.snapshots)]]

    def GarbageCommand(self):
        return [self.gc_benchmark, "garbage", self.store,
                str(self.args.blobs), str(GC_GARBAGE_AGE_S)]

    def Prepare(self, log_dir):
        start = time.monotonic()
        self.FreshStore(log_dir)
        self.setup_info = {"seconds": time.monotonic() - start,
                           "chunk_files": self.args.blobs,
                           "snapshots": self.args.snapshots,
                           "garbage_chunks": self.args.blobs
                           - self.args.blobs * 9 // 10}

    def BeforeTimedRun(self):
        start = time.monotonic()
        rc = subprocess.run(self.GarbageCommand(), env=self.Env(),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE).returncode
        if rc != 0:
            raise StepError(Shell(self.GarbageCommand()), rc, "")
        self.prepare_s = time.monotonic() - start

    def Command(self):
        return [self.binary, "gc", "--repo", self.store, "--json"]

    def AfterTimedRun(self, measurement):
        measurement["prepare_s"] = self.prepare_s

    def Removed(self, measurement):
        doc = measurement.get("stdout", {}).get("json")
        return doc.get("chunks_removed") if isinstance(doc, dict) else None


class ResticGcTool(ResticTool):
    """`gc`: restic prune of a repository with N data blobs, S snapshots.

    Untimed once, into a template repository: N files of unique small
    content (one data blob each) in directories of D files; the last N/10
    files (garbage/) are backed up in the S/10 oldest snapshots, the first
    9N/10 (live/) in S snapshots that slide over them like gc_benchmark's
    (snapshot s holds the directories of files [s·step, s·step + 5.5·step),
    step = 0.9 N / S, `--parent` the previous one, so only new files are
    read); then `restic forget` of the S/10 oldest leaves N/10 data blobs
    unreferenced. Untimed before every run: `cp -a` of the template (a few
    hundred pack files). Timed: `restic prune --no-cache` (default flags
    otherwise: --max-unused 5%). S = --snapshots (100).
    """
    name = "restic"
    label = "restic prune"

    def __init__(self, args, tool_dir):
        super().__init__(args, tool_dir)
        self.template = os.path.join(tool_dir, "template")
        self.src = os.path.join(tool_dir, "src")
        self.setup_info = {}
        self.prepare_s = None

    def SetupCommands(self):
        return [["restic", "init", "--repo", self.template,
                 "--repository-version", "2", "--cache-dir", self.cache]]

    def GarbageSnapshots(self):
        """The oldest snapshots, of the garbage files, forgotten later."""
        return max(1, self.args.snapshots // 10)

    def Layout(self):
        """(live, step, window, dir_size) of the synthetic blob layout."""
        n = self.args.blobs
        live = n * 9 // 10
        step = max(1, live // self.args.snapshots)
        window = step * 11 // 2
        return live, step, window, max(1, min(1000, step))

    def MakeFiles(self, kind, first, end, dir_size):
        """Files first..end-1 under src/KIND/dNNNNNNN; returns the dirs."""
        dirs = []
        for i in range(first, end):
            d = os.path.join(self.src, kind, f"d{(i - first) // dir_size:07d}")
            if (i - first) % dir_size == 0:
                os.makedirs(d)
                dirs.append(d)
            with open(os.path.join(d, f"f{i}"), "w") as f:
                f.write(f"arca bench gc blob {i}\n")
        return dirs

    def Backup(self, paths, parent, log_dir, label):
        argv = ["restic", "backup", "--repo", self.template, "--cache-dir",
                self.cache, "--host", "bench", "--json", "--quiet"]
        if parent:
            argv += ["--parent", parent]
        out_path = os.path.join(log_dir, f"{label}.stdout")
        err_path = os.path.join(log_dir, f"{label}.stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            rc = subprocess.run(argv + paths, env=self.Env(),
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err).returncode
        if rc != 0:
            raise StepError(Shell(argv) + " DIR...", rc, Tail(err_path))
        with open(out_path) as f:
            for line in reversed(f.read().splitlines()):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and doc.get("snapshot_id"):
                    return doc["snapshot_id"]
        raise StepError(Shell(argv), 0, "no snapshot_id in the --json output")

    def Prepare(self, log_dir):
        n = self.args.blobs
        live, step, window, dir_size = self.Layout()
        t0 = time.monotonic()
        RemoveTree(self.template)
        RemoveTree(self.src)
        for i, argv in enumerate(self.SetupCommands()):
            RunUntimed(argv, self.Env(), log_dir, f"{self.name}-setup{i}")
        garbage_dirs = self.MakeFiles("garbage", live, n, dir_size)
        live_dirs = self.MakeFiles("live", 0, live, dir_size)
        os.sync()
        t1 = time.monotonic()
        Log(f"  restic: {n} files in {t1 - t0:.1f} s; "
            f"{self.GarbageSnapshots() + self.args.snapshots} backups ...")
        forget = []
        groups = min(self.GarbageSnapshots(), len(garbage_dirs))
        for g in range(groups):
            part = garbage_dirs[g * len(garbage_dirs) // groups:
                                (g + 1) * len(garbage_dirs) // groups]
            forget.append(self.Backup(part, None, log_dir,
                                      f"restic-setup-garbage{g}"))
        parent = None
        for s in range(self.args.snapshots):
            lo = s * step
            hi = min(live, lo + window)
            if lo >= hi:
                break
            part = live_dirs[lo // dir_size:(hi - 1) // dir_size + 1]
            parent = self.Backup(part, parent, log_dir, f"restic-setup-live{s}")
            if (s + 1) % 10 == 0:
                Log(f"  restic: {s + 1} live snapshots, "
                    f"{time.monotonic() - t1:.0f} s")
        t2 = time.monotonic()
        RunUntimed(["restic", "forget", "--repo", self.template,
                    "--cache-dir", self.cache] + forget, self.Env(), log_dir,
                   "restic-setup-forget")
        blobs = subprocess.run(
            ["restic", "list", "blobs", "--repo", self.template,
             "--cache-dir", self.cache], env=self.Env(), capture_output=True,
            text=True).stdout.split()
        # src stays until the work directory goes: removing N files costs
        # minutes here (README.md) and the table need not wait for it.
        RemoveTree(self.cache)
        t3 = time.monotonic()
        self.setup_info = {
            "seconds": t3 - t0, "make_files_s": t1 - t0,
            "backups_s": t2 - t1, "forget_list_cleanup_s": t3 - t2,
            "data_blobs": blobs[0::2].count("data"),
            "tree_blobs": blobs[0::2].count("tree"),
            "snapshots": self.args.snapshots,
            "forgotten_snapshots": len(forget),
            "dir_size": dir_size,
        }

    def BeforeTimedRun(self):
        start = time.monotonic()
        RemoveTree(self.store)
        argv = ["cp", "-a", self.template, self.store]
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE).returncode
        if rc != 0:
            raise StepError(Shell(argv), rc, "")
        self.prepare_s = time.monotonic() - start

    def Command(self):
        return ["restic", "prune", "--repo", self.store, "--no-cache"]

    def AfterTimedRun(self, measurement):
        measurement["prepare_s"] = self.prepare_s

    def ParseStdout(self, path):
        """The summary lines of prune ("to delete: N blobs / SIZE", ...)."""
        keep = ("to repack:", "this removes:", "to delete:", "total prune:",
                "remaining:", "unused size after prune:")
        lines = {}
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    for k in keep:
                        if line.strip().startswith(k):
                            lines[k.rstrip(":")] = line.strip()[len(k):].strip()
        except OSError:
            pass
        return {"prune": lines}

    def Removed(self, measurement):
        text = measurement.get("stdout", {}).get("prune", {}).get(
            "total prune", "")
        try:
            return int(text.split()[0])
        except (IndexError, ValueError):
            return None


# --------------------------------------------------------------------------
# Measurement.
# --------------------------------------------------------------------------


def TimedRun(tool, argv, run_dir, label):
    """Runs argv under /usr/bin/time; returns one raw measurement dict."""
    time_path = os.path.join(run_dir, f"{label}.time")
    out_path = os.path.join(run_dir, f"{label}.stdout")
    err_path = os.path.join(run_dir, f"{label}.stderr")
    for _, stage_path in tool.stages:
        RemoveTree(stage_path)
    full = [GNU_TIME, "-f", TIME_FORMAT, "-o", time_path] + argv
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        rc = subprocess.run(full, env=tool.Env(), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err).returncode
        wall = time.monotonic() - start
    m = {"label": label, "exit_code": rc, "wall_s": wall}
    t = ParseGnuTime(time_path)
    if t is not None:
        m.update(t)
        m["cpu_s"] = t["user_s"] + t["sys_s"]
    if tool.stages:
        stage_rss = {name: ParseSingleNumber(p) for name, p in tool.stages}
        m["stage_maxrss_kib"] = stage_rss
        if all(v is not None for v in stage_rss.values()):
            # Upper bound of the pipeline's simultaneous RSS.
            m["peak_rss_kib"] = sum(stage_rss.values())
    elif t is not None:
        m["peak_rss_kib"] = t["maxrss_kib"]
    extra = tool.ParseStdout(out_path)
    if extra is not None:
        m["stdout"] = extra
    if rc != 0:
        m["stderr_tail"] = Tail(err_path)
    return m


def RunBenchmark(args, tools, work, log_dir):
    """Returns {tool name: {"runs": [...], "first_backup": ..., "failed": ...}}."""
    results = {t.name: {"runs": [], "failed": None} for t in tools}
    active = list(tools)

    def Fail(tool, what, rc, tail):
        results[tool.name]["failed"] = {"what": what, "exit_code": rc,
                                        "stderr_tail": tail}
        Log(f"  {tool.name}: FAILED ({what}, exit {rc})")
        if tool in active:
            active.remove(tool)

    if args.scenario == "second":
        # The first backup of every tool, once, before the timed rounds.
        for tool in list(active):
            if isinstance(tool, FindWalkTool):
                continue
            Log(f"setup: first backup with {tool.name}")
            try:
                tool.FreshStore(log_dir)
                m = TimedRun(tool, tool.FirstBackupCommand(), log_dir,
                             f"{tool.name}-first")
                os.sync()
            except StepError as e:
                Fail(tool, f"setup: {e.what}", e.returncode, e.stderr_tail)
                continue
            m["store_bytes"] = tool.StoreBytes()
            results[tool.name]["first_backup"] = m
            if m["exit_code"] != 0:
                Fail(tool, "first backup", m["exit_code"],
                     m.get("stderr_tail", ""))

    if args.scenario == "gc":
        # The synthetic repositories, once per tool (untimed).
        for tool in list(active):
            Log(f"setup: {tool.name} repository of {args.blobs} "
                "chunks/blobs (untimed) ...")
            try:
                tool.Prepare(log_dir)
            except StepError as e:
                Fail(tool, f"setup: {e.what}", e.returncode, e.stderr_tail)
                continue
            results[tool.name]["setup"] = tool.setup_info
            Log(f"  {tool.name}: setup {tool.setup_info['seconds']:.1f} s")

    for r in range(args.runs):
        order = RotatedOrder([t for t in tools if t in active], r)
        Log(f"round {r + 1}/{args.runs}: " + " ".join(t.name for t in order))
        for tool in order:
            label = f"{tool.name}-run{r + 1}"
            try:
                if args.scenario in ("first", "encryption", "export") or ServicesScenario(args):
                    tool.FreshStore(log_dir)
                tool.BeforeTimedRun()
            except StepError as e:
                Fail(tool, f"setup: {e.what}", e.returncode, e.stderr_tail)
                continue
            before = tool.StoreBytes() if args.scenario == "second" else None
            os.sync()  # start every run with no dirty pages of the others
            m = {"label": label, "exit_code": -1, "wall_s": None}
            try:
                m = TimedRun(tool, tool.Command(), log_dir, label)
            finally:
                tool.AfterTimedRun(m)
            m["round"] = r + 1
            m["loadavg_after"] = LoadAverage()
            os.sync()
            m["store_bytes"] = tool.StoreBytes()
            if before is not None and m["store_bytes"] is not None:
                m["added_bytes"] = tool.AddedBytes(before, m["store_bytes"])
            results[tool.name]["runs"].append(m)
            Log(f"  {tool.name}: {m['wall_s']:.2f} s, exit {m['exit_code']}")
            if m["exit_code"] != 0:
                Fail(tool, f"run {r + 1}", m["exit_code"],
                     m.get("stderr_tail", ""))
    return results


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def Median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def KibToMib(kib):
    return None if kib is None else kib / 1024


def Fmt(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def Summarize(tool, res, scenario):
    ok = [m for m in res["runs"] if m["exit_code"] == 0]
    walls = [m["wall_s"] for m in ok]
    s = {
        "runs_ok": len(ok),
        "wall_median": Median(walls),
        "wall_min": min(walls) if walls else None,
        "wall_max": max(walls) if walls else None,
        "cpu_median": Median([m.get("cpu_s") for m in ok]),
        "rss_median_kib": Median([m.get("peak_rss_kib") for m in ok]),
        "store_bytes": Median([m.get("store_bytes") for m in ok]),
        "added_bytes": Median([m.get("added_bytes") for m in ok]),
        "services_cpu_median": Median([m.get("services_cpu_s") for m in ok]),
        "services_rss_median_kib": Median(
            [m.get("services_peak_rss_kib_sum") for m in ok]),
    }
    first = res.get("first_backup")
    if first and first["exit_code"] == 0:
        s["first_wall"] = first["wall_s"]
    return s


def Table(args, tools, results, source_info):
    baseline_name = {"first": "tar-zstd", "second": "find",
                     "distributed": "arca", "metrics": "arca",
                     "encryption": "arca", "export": "tar-zstd"}[args.scenario]
    summaries = {t.name: Summarize(t, results[t.name], args.scenario)
                 for t in tools}
    base = summaries.get(baseline_name, {}).get("wall_median")
    mib = lambda b: None if b is None else b / MIB

    if args.scenario in ("first", "encryption", "export"):
        head = ["tool", "median wall s", "min s", "max s",
                ("× arca backup (wall)" if args.scenario == "encryption"
                 else "× tar\\|zstd (wall)"), "MB/s (source)", "median CPU s",
                "median peak RSS MiB", "repo MiB", "repo / source"]
    elif ServicesScenario(args):
        head = ["mode", "median wall s", "min s", "max s",
                "throughput × embedded", "MB/s (source)",
                "median CPU s (CLI)", "median peak RSS MiB (CLI)",
                "services CPU s", "services peak RSS MiB (sum)", "repo MiB"]
    else:
        head = ["tool", "median wall s", "min s", "max s", "× find (wall)",
                "× own first backup", "median CPU s", "median peak RSS MiB",
                "added MiB per run", "repo MiB"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    src_bytes = source_info["regular_file_bytes"]
    for t in tools:
        s = summaries[t.name]
        res = results[t.name]
        label = t.label
        if res["failed"]:
            label += f" (FAILED: {res['failed']['what']})"
        w = s["wall_median"]
        ratio = (w / base) if (w is not None and base) else None
        if ServicesScenario(args):
            # Same bytes both ways: throughput ratio = embedded wall / wall.
            speed = (base / w) if (w and base) else None
            mbps = (src_bytes / 1e6 / w) if w else None
            row = [label, Fmt(w, 3), Fmt(s["wall_min"], 3),
                   Fmt(s["wall_max"], 3), Fmt(speed), Fmt(mbps, 1),
                   Fmt(s["cpu_median"]),
                   Fmt(KibToMib(s["rss_median_kib"]), 1),
                   Fmt(s["services_cpu_median"]),
                   Fmt(KibToMib(s["services_rss_median_kib"]), 1),
                   Fmt(mib(s["store_bytes"]), 1)]
        elif args.scenario in ("first", "encryption", "export"):
            mbps = (src_bytes / 1e6 / w) if w else None
            store = s["store_bytes"]
            row = [label, Fmt(w, 3), Fmt(s["wall_min"], 3),
                   Fmt(s["wall_max"], 3),
                   Fmt(ratio), Fmt(mbps, 1), Fmt(s["cpu_median"]),
                   Fmt(KibToMib(s["rss_median_kib"]), 1),
                   Fmt(mib(store), 1),
                   Fmt(store / src_bytes if store is not None and src_bytes
                       else None, 3)]
        else:
            first = s.get("first_wall")
            own = (w / first) if (w is not None and first) else None
            row = [label, Fmt(w, 3), Fmt(s["wall_min"], 3),
                   Fmt(s["wall_max"], 3),
                   Fmt(ratio), Fmt(own), Fmt(s["cpu_median"]),
                   Fmt(KibToMib(s["rss_median_kib"]), 1),
                   Fmt(mib(s["added_bytes"]), 3), Fmt(mib(s["store_bytes"]), 1)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines), summaries


def ArcaStats(res):
    """Scalar fields of "stats" in the last successful --json document."""
    for m in reversed(res["runs"]):
        doc = m.get("stdout", {}).get("json")
        if m["exit_code"] == 0 and isinstance(doc, dict):
            stats = doc.get("stats")
            if isinstance(stats, dict):
                return {k: v for k, v in stats.items()
                        if isinstance(v, (int, float, str))}
    return None


def Report(args, machine, source_info, warm, tools, skipped, results,
           started, work):
    out = []
    out.append(f"# arca bench: scenario `{args.scenario}`")
    out.append("")
    out.extend(HeaderLines(started, machine))
    out.append(SourceLine(source_info))
    out.append(f"- runs: {args.runs} per tool, tools interleaved per round "
               "(round r starts with the r-th tool); "
               + ("every run starts from an empty repository/output "
                  "(rm -rf + init, untimed)"
                  if args.scenario in ("first", "encryption", "export") else
                  "every run starts from an empty repository (rm -rf + "
                  "init, untimed); for the distributed mode also five "
                  "freshly started services (untimed; each one's "
                  "`listening on HOST:PORT` line is awaited), which get "
                  "SIGTERM and are waited for after the run (untimed)"
                  if ServicesScenario(args) else
                  "each tool made one first backup (timed once, used for "
                  "\"× own first backup\"; same command as its timed runs "
                  "unless a `first:` line says otherwise), then every run "
                  "is an unchanged re-backup into that same repository"))
    out.append(f"- page cache: warmed once before timing by reading the "
               f"whole source through `tar -cf - SRC | (read and discard)` "
               f"({warm['tar_bytes'] / MIB:.1f} MiB in "
               f"{warm['seconds']:.1f} s, untimed); `sync` runs (untimed) "
               "before and after every timed run")
    if args.scenario == "encryption":
        out.append("- baseline for the ratio column: median wall time of "
                   "arca's plain first backup (restores are timed against "
                   "it too: compare the two restore rows with each other)")
    elif args.scenario in ("first", "encryption", "export"):
        out.append("- baseline for the ratio column: median wall time of "
                   "`tar | zstd -3`" + (" of the source directory (arca "
                   "export and restore read the snapshot, backed up "
                   "untimed before each run)" if args.scenario == "export"
                   else ""))
    elif ServicesScenario(args):
        out.append("- throughput × embedded: median wall of the embedded "
                   "`arca backup` / median wall of the mode (same source, "
                   "so it is the throughput ratio; the target of issue 3 "
                   "is >= 0.7 for the distributed row)")
    else:
        out.append("- baseline for the ratio column: median wall time of "
                   "the `find` metadata walk (the design goal is a second "
                   "backup that costs about as much as listing the tree); "
                   "\"× own first backup\" divides by the same tool's first "
                   "backup (one sample)")
    out.append("- peak RSS: `/usr/bin/time -f %M` of the command, i.e. the "
               "maximum over the process and its waited-for descendants "
               "(not a sum); for `tar | zstd` each side runs under its own "
               "`/usr/bin/time` and the column is tar's peak + zstd's peak "
               "(an upper bound of the pipeline's simultaneous RSS); CPU is "
               "user+sys of the whole tree")
    if ServicesScenario(args):
        out.append("- distributed: the CLI columns (CPU, peak RSS) are of "
                   "the `arca --orchestrator` client only, which moves no "
                   "data; \"services CPU s\" is utime+stime of the five "
                   "services and \"services peak RSS\" the sum of their "
                   "five VmHWM, both read from /proc just before SIGTERM "
                   "(whole service lifetime, startup included; a sum of "
                   "peaks is an upper bound of what they held at once); all "
                   "five and the CLI share the same 2 cores")
    out.append("- sizes: `du -sb` of the repository (or output file); "
               "MiB = 2^20 bytes")
    if not ServicesScenario(args):
        out.append("- not identical work: restic 0.14 always encrypts and "
                   "uses its `auto` compression (zstd, about level 3); borg "
                   "runs with `--encryption=none`; arca encrypts only in "
                   "the rows that say so (`--encryption aes-256-gcm`, "
                   "scenario encryption); `tar > file` does not fsync, the "
                   "others may")
    for name, reason in skipped:
        out.append(f"- **skipped {name}**: {reason}")
    out.append("")
    table, summaries = Table(args, tools, results, source_info)
    out.append(table)
    out.append("")
    if args.scenario == "metrics":
        for off, on, cpu in (("arca", "arca-textfile", "cpu_median"),
                             ("arca-distributed", "arca-distributed-metrics",
                              "services_cpu_median")):
            a, b = summaries.get(off, {}), summaries.get(on, {})
            wall = (b["wall_median"] / a["wall_median"]
                    if a.get("wall_median") and b.get("wall_median")
                    else None)
            cpus = (b[cpu] / a[cpu] if a.get(cpu) and b.get(cpu) else None)
            out.append(f"- metrics on / off, {on} / {off}: median wall "
                       f"{Fmt(wall, 3)}, median CPU {Fmt(cpus, 3)} "
                       "(1.000 = no cost; the spread of the rows above is "
                       "the noise)")
        scr = [m.get("scraping") for m in
               results.get("arca-distributed-metrics", {}).get("runs", [])]
        scr = [x for x in scr if x]
        if scr:
            out.append(f"- scraping during the distributed runs: "
                       f"{sum(x['scrapes'] for x in scr)} scrapes, "
                       f"{sum(x['scrape_errors'] for x in scr)} errors")
        out.append("")
    for t in tools:
        stats = ArcaStats(results[t.name])
        if stats:
            out.append(f"{t.name} `--json` stats of its last successful "
                       "run: " + ", ".join(f"{k}={v}" for k, v in
                                           sorted(stats.items())))
            out.append("")
    out.append("Commands (timed; setup commands untimed; the work "
               f"directory {work} is removed at the end unless --keep):")
    out.append("")
    out.append("```")
    for t in tools:
        env = " ".join(f"{k}={shlex.quote(v)}"
                       for k, v in t.EnvDisplay().items())
        out.append(f"# {t.name}: {t.Version()}")
        if args.scenario in ("first", "encryption", "export") or not isinstance(t, FindWalkTool):
            for argv in t.SetupCommands():
                out.append(f"setup: {env + ' ' if env else ''}{Shell(argv)}")
        if isinstance(t, ArcaDistributedTool):
            placeholders = {n: n.upper() + "_ADDR" for n in SERVICE_NAMES}
            for name in SERVICE_NAMES:
                out.append(f"setup: {Shell(t.ServiceArgv(name, placeholders))}"
                           f"  # prints listening on {placeholders[name]}")
        if (args.scenario == "second" and
                isinstance(t, TarIncrementalZstdTool)):
            out.append(f"first: {Shell(t.FirstBackupCommand())}")
            out.append(f"setup: cp {t.snar0} {t.snar}")
        command = t.Command()
        if isinstance(t, ArcaDistributedTool):
            command[1] = "--orchestrator=ORCHESTRATOR_ADDR"
        out.append(f"timed: {env + ' ' if env else ''}"
                   f"{GNU_TIME} -f '{TIME_FORMAT}' -o FILE "
                   f"{Shell(command)}")
        if isinstance(t, ArcaDistributedTool):
            out.append("after: SIGTERM to the five services, wait "
                       f"(SIGKILL after {SERVICE_STOP_TIMEOUT_S:.0f} s)")
    out.append("```")
    return "\n".join(out), summaries


def GcReport(args, machine, tools, skipped, results, started, work):
    """The report of scenario `gc`: its own columns and the target check."""
    summaries = {t.name: Summarize(t, results[t.name], args.scenario)
                 for t in tools}
    base = summaries.get("restic", {})
    out = [f"# arca bench: scenario `gc`", ""]
    out.extend(HeaderLines(started, machine))
    out.append(f"- size: {args.blobs} chunks (arca) / data blobs (restic), "
               f"{args.snapshots} snapshots, 10 % of them garbage; runs: "
               f"{args.runs} per tool, interleaved per round; `sync` "
               "(untimed) before and after every timed run")
    for t in tools:
        info = results[t.name].get("setup") or {}
        prep = Median([m.get("prepare_s") for m in results[t.name]["runs"]])
        if isinstance(t, ArcaGcTool) and info:
            out.append(
                f"- arca setup (untimed, once): `gc_benchmark setup`: "
                f"{info['chunk_files']} empty chunk files, "
                f"{info['snapshots']} snapshots (snapshot s references "
                "chunks [s·step, s·step + 5.5·step) of the first 90 %), "
                f"{info['garbage_chunks']} garbage chunks, "
                f"{info['seconds']:.1f} s; before every run `gc_benchmark "
                "garbage` re-creates the garbage the previous gc removed "
                f"and dates it {GC_GARBAGE_AGE_S} s back (median "
                f"{Fmt(prep, 1)} s, untimed); `arca gc` runs with its "
                "default clock slack (5 min)")
        elif isinstance(t, ResticGcTool) and info:
            out.append(
                f"- restic setup (untimed, once, into a template): "
                f"{args.blobs} small files of unique content in "
                f"directories of {info['dir_size']} "
                f"({info['make_files_s']:.1f} s), "
                f"{info['forgotten_snapshots'] + info['snapshots']} backups "
                f"({info['backups_s']:.1f} s: {info['forgotten_snapshots']} "
                f"of the garbage files, then {info['snapshots']} sliding over "
                "the rest like "
                "arca's, each with `--parent` the previous one), `restic "
                f"forget` of the {info['forgotten_snapshots']} oldest, "
                "`restic list blobs`, removal of the cache "
                f"({info['forget_list_cleanup_s']:.1f} s); total "
                f"{info['seconds']:.1f} s; the repository holds "
                f"{info['data_blobs']} data + {info['tree_blobs']} tree "
                f"blobs; before every run `cp -a` of the template (median "
                f"{Fmt(prep, 1)} s, untimed); prune runs with `--no-cache` "
                "(local repository: no cache to warm or to invalidate "
                "between runs) and default flags")
    out.append("- peak RSS: `/usr/bin/time -f %M` of the command; CPU is "
               "user+sys; repo MiB: `du -sb` after the run (arca's chunk "
               "files are empty, so it is mostly the 4 KiB blocks of its up "
               "to 65,536 chunk directories; only gc's metadata work is "
               "measured)")
    if any(isinstance(t, ResticGcTool) for t in tools):
        out.append("- not identical work: restic reads and decrypts its index "
                   "and tree blobs, deletes whole pack files, repacks packs "
                   "more than 5 % unused and (by default) small ones, and "
                   "rewrites its index; arca reads the snapshots' indexes "
                   "and lists and removes chunk files")
    for name, reason in skipped:
        out.append(f"- **skipped {name}**: {reason}")
    out.append("")
    head = ["tool", "median wall s", "min s", "max s", "× restic (wall)",
            "median CPU s", "median peak RSS MiB", "× restic (RSS)",
            "objects removed", "repo MiB"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for t in tools:
        s = summaries[t.name]
        res = results[t.name]
        label = t.label
        if res["failed"]:
            label += f" (FAILED: {res['failed']['what']})"
        w, rss = s["wall_median"], s["rss_median_kib"]
        bw, brss = base.get("wall_median"), base.get("rss_median_kib")
        ok = [m for m in res["runs"] if m["exit_code"] == 0]
        removed = sorted({t.Removed(m) for m in ok} - {None})
        lines.append("| " + " | ".join([
            label, Fmt(w, 3), Fmt(s["wall_min"], 3), Fmt(s["wall_max"], 3),
            Fmt(w / bw if w is not None and bw else None),
            Fmt(s["cpu_median"]), Fmt(KibToMib(rss), 1),
            Fmt(rss / brss if rss is not None and brss else None),
            "/".join(str(x) for x in removed) or "—",
            Fmt(None if s["store_bytes"] is None else s["store_bytes"] / MIB,
                1)]) + " |")
    out.append("\n".join(lines))
    out.append("")
    a = summaries.get("arca")
    if a and a["wall_median"] is not None and a["rss_median_kib"]:
        w, rss = a["wall_median"], a["rss_median_kib"] * 1024
        verdict = lambda good: "met" if good else "NOT met"
        out.append(
            f"Target (issue: 1,000,000 chunks, 100 snapshots, ≤ "
            f"{GC_TARGET_WALL_S:.0f} s and ≤ 200 MB): arca gc median wall "
            f"{w:.2f} s ({verdict(w <= GC_TARGET_WALL_S)}), median peak RSS "
            f"{rss / 1e6:.1f} MB = {rss / MIB:.1f} MiB "
            f"({verdict(rss <= GC_TARGET_RSS_BYTES)})"
            + ("" if (args.blobs, args.snapshots) == (1000000, 100) else
               f"; **this run has {args.blobs} chunks and "
               f"{args.snapshots} snapshots, not 1,000,000 and 100**"))
        doc = next((m["stdout"]["json"] for m in reversed(
                    results["arca"]["runs"]) if m["exit_code"] == 0 and
                    isinstance(m.get("stdout", {}).get("json"), dict)), None)
        if doc:
            out.append("")
            out.append("arca gc `--json` of its last successful run: " +
                       ", ".join(f"{k}={doc[k]}" for k in (
                           "snapshots", "chunks_marked", "chunks_kept",
                           "chunks_kept_recent", "chunks_removed",
                           "chunks_missing", "seconds", "mark_seconds",
                           "sweep_seconds") if k in doc))
    for m in reversed(results.get("restic", {}).get("runs", [])):
        prune = m.get("stdout", {}).get("prune")
        if m["exit_code"] == 0 and prune:
            out.append("")
            out.append("restic prune summary of its last successful run: " +
                       "; ".join(f"{k}: {v}" for k, v in prune.items()))
            break
    out.append("")
    out.append("Commands (timed; setup commands untimed; the work "
               f"directory {work} is removed at the end unless --keep):")
    out.append("")
    out.append("```")
    for t in tools:
        env = " ".join(f"{k}={shlex.quote(v)}"
                       for k, v in t.EnvDisplay().items())
        out.append(f"# {t.name}: {t.Version()}")
        for argv in t.SetupCommands():
            out.append(f"setup: {env + ' ' if env else ''}{Shell(argv)}")
        if isinstance(t, ArcaGcTool):
            out.append(f"before each run: {Shell(t.GarbageCommand())}")
        else:
            out.append("setup: (files) restic backup --repo "
                       f"{t.template} --host bench --json --quiet "
                       "[--parent PREV] DIR... "
                       f"({t.GarbageSnapshots() + args.snapshots} times); "
                       "restic forget ID... (the "
                       f"{t.GarbageSnapshots()} oldest)")
            out.append(f"before each run: cp -a {t.template} {t.store}")
        out.append(f"timed: {env + ' ' if env else ''}"
                   f"{GNU_TIME} -f '{TIME_FORMAT}' -o FILE "
                   f"{Shell(t.Command())}")
    out.append("```")
    return "\n".join(out), summaries


def MakeTools(args, work):
    classes = {
        "first": [ArcaTool, TarZstdTool, ResticTool, BorgTool],
        "encryption": [ArcaTool, ArcaEncryptedTool, ArcaRestoreTool,
                       ArcaEncryptedRestoreTool],
        "export": [TarZstdTool, ArcaExportTool, ArcaRestoreTool],
        "second": [ArcaTool, TarIncrementalZstdTool, ResticTool, BorgTool,
                   FindWalkTool],
        "distributed": [ArcaTool, ArcaDistributedTool, ArcaDistributedMtlsTool],
        "metrics": [ArcaTool, ArcaTextfileTool, ArcaDistributedTool,
                    ArcaDistributedMetricsTool],
        "gc": [ArcaGcTool, ResticGcTool],
        "s3": [S3ArcaLocalTool, S3ArcaTool, S3ResticTool],
    }[args.scenario]
    wanted = None
    if args.tools:
        wanted = set(args.tools.split(","))
    tools, skipped = [], []
    for cls in classes:
        if wanted is not None and cls.name not in wanted:
            continue
        tool = cls(args, os.path.join(work, cls.name))
        reason = tool.Missing()
        if reason:
            skipped.append((cls.name, reason))
        else:
            tools.append(tool)
    if wanted is not None:
        known = {c.name for c in classes}
        unknown = wanted - known
        if unknown:
            raise SystemExit(f"bench.py: unknown --tools for scenario "
                             f"{args.scenario}: {', '.join(sorted(unknown))}"
                             f" (known: {', '.join(sorted(known))})")
    return tools, skipped


def ParseArgs(argv):
    p = argparse.ArgumentParser(
        description="Run whole backup commands (arca and peers) side by side "
                    "on one directory and print a Markdown table.")
    p.add_argument("--scenario",
                   choices=["first", "second", "distributed", "metrics",
                            "gc", "s3", "mount", "encryption", "export"],
                   required=True,
                   help="first: first backup into an empty repository; "
                        "second: unchanged re-backup into the same "
                        "repository, plus a find metadata walk; "
                        "distributed: arca's first backup embedded and "
                        "through the five services on loopback; metrics: "
                        "the same two with metrics off and on; gc: arca gc "
                        "against restic prune on synthetic repositories; s3: "
                        "first and unchanged second backup of arca to a "
                        "local directory and to s3://, and of restic to s3:, "
                        "on a throw-away Ceph RGW; mount: sequential read of "
                        "one big file through arca mount against arca "
                        "restore (--source is not used); encryption: "
                        "first backup and restore of --source with arca, "
                        "plain and encrypted (aes-256-gcm); export: arca "
                        "export --format tar.zst of a snapshot of --source "
                        "against tar | zstd -3 of --source and arca restore")
    p.add_argument("--source", default="/usr/share",
                   help="directory to back up (default: %(default)s)")
    p.add_argument("--runs", type=int, default=3,
                   help="timed runs per tool (default: %(default)s)")
    p.add_argument("--arca", default="bazel-bin/tools/arca/arca",
                   help="arca binary (default: %(default)s); skipped with a "
                        "note if missing")
    p.add_argument("--tools", default="",
                   help="comma-separated subset, e.g. arca,restic (names: "
                        "arca, tar-zstd, restic, borg; second also "
                        "tar-g-zstd, find; distributed: arca, "
                        "arca-distributed; metrics: also arca-textfile, "
                        "arca-distributed-metrics; gc: arca, restic; s3: "
                        "arca-local, arca-s3, restic-s3); default: all")
    p.add_argument("--services-dir", default="bazel-out/k8-opt/bin/services",
                   help="distributed: holds NAME/NAME for the five services "
                        "(default: %(default)s)")
    p.add_argument("--workdir", default="/var/tmp/arca-bench",
                   help="repositories go in a fresh subdirectory of this "
                        "(default: %(default)s)")
    p.add_argument("--keep", action="store_true",
                   help="keep the repositories and logs")
    p.add_argument("--json-out", help="write all raw measurements here")
    p.add_argument("--blobs", type=int, default=1000000,
                   help="gc: chunks (arca) and data blobs (restic) of the "
                        "synthetic repositories (default: %(default)s)")
    p.add_argument("--snapshots", type=int, default=100,
                   help="gc: snapshots left in each repository (default: "
                        "%(default)s; fewer only to keep tests short)")
    p.add_argument("--gc-benchmark",
                   help="gc: the gc_benchmark binary (default: "
                        "libs/store/gc_benchmark beside --arca's bin tree)")
    p.add_argument("--rgw-server",
                   help="s3: the rgw_server_main binary (default: "
                        "libs/testing/rgw_server_main beside --arca's bin "
                        "tree)")
    p.add_argument("--mount-mib", type=int, default=512,
                   help="mount: size of the generated file in MiB (default: "
                        "%(default)s)")
    args = p.parse_args(argv)
    if args.mount_mib < 1:
        p.error("--mount-mib must be >= 1")
    if args.runs < 1:
        p.error("--runs must be >= 1")
    if args.blobs < 1000:
        p.error("--blobs must be >= 1000")
    if not 1 <= args.snapshots <= args.blobs // 100:
        p.error("--snapshots must be between 1 and --blobs / 100")
    bin_dir = args.arca
    for _ in range(3):  # BIN/tools/arca/arca -> BIN
        bin_dir = os.path.dirname(os.path.abspath(bin_dir))
    if args.gc_benchmark is None:
        args.gc_benchmark = os.path.join(bin_dir, "libs", "store",
                                         "gc_benchmark")
    args.gc_benchmark = os.path.abspath(args.gc_benchmark)
    if args.rgw_server is None:
        args.rgw_server = os.path.join(bin_dir, "libs", "testing",
                                       "rgw_server_main")
    args.rgw_server = os.path.abspath(args.rgw_server)
    args.source = os.path.abspath(args.source)
    args.workdir = os.path.abspath(args.workdir)
    args.arca = os.path.abspath(args.arca)
    args.services_dir = os.path.abspath(args.services_dir)
    if not os.path.isdir(args.source):
        p.error(f"--source {args.source} is not a directory")
    src = args.source.rstrip("/") + "/"
    wd = args.workdir.rstrip("/") + "/"
    if wd.startswith(src) or src.startswith(wd):
        p.error(f"--workdir {args.workdir} and --source {args.source} must "
                "not contain each other")
    if not os.access(GNU_TIME, os.X_OK):
        p.error(f"{GNU_TIME} (GNU time, Debian package `time`) is required")
    return args


# --------------------------------------------------------------------------
# Scenario mount.
# --------------------------------------------------------------------------


def WriteMixedFile(path, mib, seed=1):
    """mib MiB, by MiB: two incompressible, one text-like, one of zeros."""
    import random
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for i in range(mib):
            kind = i % 4
            if kind in (0, 1):
                f.write(rng.randbytes(MIB))
            elif kind == 2:
                text = b"".join(b"line %08d of text, compressible %03d\n" %
                                (i * 40000 + j, rng.randrange(1000))
                                for j in range(MIB // 36 + 1))
                f.write(text[:MIB])
            else:
                f.write(bytes(MIB))


def PeakRssKib(pid):
    """VmHWM of a running process, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def IsMountPoint(path):
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == real for line in f)
    except OSError:
        return False


class ArcaMount:
    """`arca mount latest MNT --repo REPO`, started and stopped untimed."""

    def __init__(self, arca, repo, mnt, err_path):
        self.mnt = mnt
        self.err = open(err_path, "wb")
        self.proc = subprocess.Popen(
            [arca, "mount", "latest", mnt, "--repo", repo],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + MOUNT_START_TIMEOUT_S
        line = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stderr], [], [],
                                              left)[0]:
                break
            c = os.read(self.proc.stderr.fileno(), 1)  # unbuffered: select
            if not c:
                break
            self.err.write(c)
            line += c
            if c == b"\n":
                if line.startswith(b"arca: mounted "):
                    return
                line = b""
        self.Stop()
        raise StepError("arca mount did not mount", self.proc.returncode,
                        Tail(err_path))

    def Stop(self):
        """SIGTERM (then SIGKILL); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rest = self.proc.stderr.read()
            self.proc.wait(timeout=MOUNT_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rest = b""
        self.err.write(rest or b"")
        self.err.close()
        if IsMountPoint(self.mnt):  # never leave a mount behind
            subprocess.run(["umount", "-l", self.mnt])
        return self.proc.returncode


def TimedCommand(argv, log_dir, label):
    """argv under /usr/bin/time: wall, exit code, GNU time's numbers."""
    time_path = os.path.join(log_dir, f"{label}.time")
    err_path = os.path.join(log_dir, f"{label}.stderr")
    full = [GNU_TIME, "-f", TIME_FORMAT, "-o", time_path] + argv
    with open(err_path, "wb") as err:
        start = time.monotonic()
        rc = subprocess.run(full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err).returncode
        wall = time.monotonic() - start
    m = {"label": label, "exit_code": rc, "wall_s": wall}
    t = ParseGnuTime(time_path)
    if t is not None:
        m.update(t)
    if rc != 0:
        m["stderr_tail"] = Tail(err_path)
    return m


def SameFile(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def RunMountBenchmark(args, work, log_dir):
    """{"setup": ..., "restore": {"runs", "failed"}, "mount": {...}}."""
    src = os.path.join(work, "src")
    repo = os.path.join(work, "repo")
    mnt = os.path.join(work, "mnt")
    os.makedirs(src)
    os.makedirs(mnt)
    data = os.path.join(src, MOUNT_FILE)
    Log(f"setup: writing {args.mount_mib} MiB of mixed data (untimed) ...")
    WriteMixedFile(data, args.mount_mib)
    RunUntimed([args.arca, "init", "--repo", repo], None, log_dir, "init")
    start = time.monotonic()
    RunUntimed([args.arca, "backup", src, "--repo", repo], None, log_dir,
               "backup")
    setup = {"file_bytes": os.path.getsize(data),
             "backup_s": time.monotonic() - start,
             "repo_bytes": DiskUsageBytes(repo)}
    results = {"setup": setup}
    names = ["restore", "mount"]
    for n in names:
        results[n] = {"runs": [], "failed": None}
    for r in range(args.runs):
        order = RotatedOrder([n for n in names if not results[n]["failed"]],
                             r)
        Log(f"round {r + 1}/{args.runs}: " + " ".join(order))
        for name in order:
            label = f"{name}-run{r + 1}"
            os.sync()
            if name == "restore":
                target = os.path.join(work, "restored")
                RemoveTree(target)
                m = TimedCommand([args.arca, "restore", "latest", target,
                                  "--repo", repo], log_dir, label)
                m["peak_rss_kib"] = m.get("maxrss_kib")
                if m["exit_code"] == 0 and r == 0:
                    m["identical"] = SameFile(
                        data, os.path.join(target, MOUNT_FILE))
                RemoveTree(target)
            else:
                try:
                    mount = ArcaMount(args.arca, repo, mnt, os.path.join(
                        log_dir, f"{label}.mount.stderr"))
                except StepError as e:
                    results[name]["failed"] = {
                        "what": e.what, "exit_code": e.returncode,
                        "stderr_tail": e.stderr_tail}
                    Log(f"  mount: FAILED ({e.what})")
                    continue
                try:
                    m = TimedCommand(["cat", os.path.join(mnt, MOUNT_FILE)],
                                     log_dir, label)
                    if m["exit_code"] == 0 and r == 0:
                        m["identical"] = SameFile(
                            data, os.path.join(mnt, MOUNT_FILE))
                    m["peak_rss_kib"] = PeakRssKib(mount.proc.pid)
                finally:
                    m["mount_exit_code"] = mount.Stop()
            m["round"] = r + 1
            m["bytes"] = setup["file_bytes"]
            results[name]["runs"].append(m)
            Log(f"  {name}: {m['wall_s']:.2f} s, exit {m['exit_code']}")
            bad = (m["exit_code"] != 0 or m.get("identical") is False or
                   m.get("mount_exit_code", 0) != 0)
            if bad:
                results[name]["failed"] = {
                    "what": f"run {r + 1}" + (
                        ": content differs" if m.get("identical") is False
                        else ""),
                    "exit_code": m["exit_code"] or m.get("mount_exit_code"),
                    "stderr_tail": m.get("stderr_tail", "")}
    return results


def MountReport(args, machine, results, started, work):
    setup = results["setup"]
    rows = {"restore": "arca restore", "mount": "cat through arca mount"}
    commands = {
        "restore": "arca restore latest TARGET --repo REPO",
        "mount": f"arca mount latest MNT --repo REPO; cat MNT/{MOUNT_FILE} "
                 ">/dev/null; kill -TERM <arca>"}
    summaries = {}
    for name in rows:
        ok = [m for m in results[name]["runs"] if m["exit_code"] == 0]
        wall = Median([m["wall_s"] for m in ok])
        summaries[name] = {
            "runs_ok": len(ok), "median_wall_s": wall,
            "mib_per_s": (setup["file_bytes"] / MIB / wall) if wall else None,
            "median_peak_rss_mib": KibToMib(
                Median([m.get("peak_rss_kib") for m in ok])),
            "identical": all(m.get("identical", True) for m in ok)}
    out = ["# arca bench: scenario `mount`", ""]
    out.extend(HeaderLines(started, machine))
    out.append(f"- data: one file of {args.mount_mib} MiB (by MiB: two "
               "incompressible, one text-like, one of zeros), backed up "
               f"once (untimed, {setup['backup_s']:.1f} s, repository "
               f"{setup['repo_bytes'] / MIB:.0f} MiB); repository warm in "
               "the page cache; a fresh mount per run")
    out.append(f"- runs: {args.runs} per command, interleaved per round; "
               "`sync` (untimed) before every timed run; the first round "
               "checks the bytes with `cmp` (untimed)")
    out.append("")
    out.append("| command | median wall s | MiB/s | peak RSS of arca MiB "
               "| runs ok | bytes identical |")
    out.append("|---|---|---|---|---|---|")
    for name, label in rows.items():
        s = summaries[name]
        out.append(f"| {label} | {Fmt(s['median_wall_s'])} | "
                   f"{Fmt(s['mib_per_s'], 0)} | "
                   f"{Fmt(s['median_peak_rss_mib'], 0)} | "
                   f"{s['runs_ok']}/{args.runs} | "
                   f"{'yes' if s['identical'] else 'NO'} |")
    a, b = summaries["mount"]["mib_per_s"], summaries["restore"]["mib_per_s"]
    ratio = a / b if a and b else None
    out.append("")
    out.append(f"Mount read / restore throughput: **{Fmt(ratio)}** "
               "(1.00 = as fast as a restore).")
    out.append("")
    out.append("Commands:")
    out.append("```")
    for name in rows:
        out.append(commands[name])
    out.append("```")
    summaries["ratio"] = ratio
    return "\n".join(out), summaries


def MountMain(args, work, log_dir, started):
    """Scenario mount: its own setup, runs and report; exit code."""
    reasons = []
    if not os.access(args.arca, os.X_OK):
        reasons.append(f"{args.arca} is not an executable (bazel build -c "
                       "opt //tools/arca)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        reasons.append("no usable /dev/fuse")
    if reasons:
        Log("bench.py: scenario mount cannot run: " + "; ".join(reasons))
        return 2
    machine = MachineInfo()
    try:
        results = RunMountBenchmark(args, work, log_dir)
    except StepError as e:
        Log(f"bench.py: setup failed ({e.what}, exit {e.returncode}):\n"
            f"{e.stderr_tail}")
        return 1
    report, summaries = MountReport(args, machine, results, started, work)
    print(report, flush=True)
    if args.json_out:
        doc = {"scenario": "mount", "date_utc": started,
               "args": {k: v for k, v in vars(args).items()},
               "machine": machine, "loadavg_end": LoadAverage(),
               "setup": results["setup"], "summary": summaries,
               "tools": {n: results[n] for n in ("restore", "mount")}}
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
    failed = [(n, results[n]["failed"]) for n in ("restore", "mount")
              if results[n]["failed"]]
    for name, f in failed:
        Log(f"\n{name} FAILED ({f['what']}, exit {f['exit_code']}); "
            f"stderr tail:\n{f['stderr_tail']}")
    return 1 if failed else 0


def CheckInodes(work, blobs):
    """gc: the two synthetic repositories need about 2 × blobs inodes."""
    need = 2 * blobs + 70000  # + arca's 65,536 leaf directories at most
    free = os.statvfs(work).f_favail
    if free < need:
        raise SystemExit(f"bench.py: {work} has {free} free inodes; "
                         f"--blobs {blobs} needs about {need}")


def main(argv):
    args = ParseArgs(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")
    os.makedirs(args.workdir, exist_ok=True)
    work = os.path.join(
        args.workdir,
        f"{args.scenario}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.makedirs(work)
    log_dir = os.path.join(work, "logs")
    os.makedirs(log_dir)
    # SIGTERM unwinds like Ctrl-C, so the finally below stops the services.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    tools = []
    try:
        if args.scenario == "mount":
            return MountMain(args, work, log_dir, started)
        tools, skipped = MakeTools(args, work)
        for t in tools:
            os.makedirs(t.dir, exist_ok=True)
        for name, reason in skipped:
            Log(f"skipping {name}: {reason}")
        if not tools:
            Log("bench.py: no tool can run")
            return 2
        machine = MachineInfo()
        source_info = warm = None
        if args.scenario == "gc":
            CheckInodes(work, args.blobs)
        else:
            Log(f"counting {args.source} ...")
            source_info = SourceInfo(args.source)
            Log(f"warming the page cache (tar of {args.source}, untimed) ...")
            warm = WarmPageCache(args.source)
        if args.scenario == "s3":
            results = RunS3Benchmark(args, tools, work, log_dir)
        else:
            results = RunBenchmark(args, tools, work, log_dir)
        if args.scenario == "s3":
            report, summaries = S3Report(args, machine, source_info, warm,
                                         tools, skipped, results, started,
                                         work)
        elif args.scenario == "gc":
            report, summaries = GcReport(args, machine, tools, skipped,
                                         results, started, work)
        else:
            report, summaries = Report(args, machine, source_info, warm,
                                       tools, skipped, results, started,
                                       work)
        print(report, flush=True)
        if args.json_out:
            doc = {
                "scenario": args.scenario, "date_utc": started,
                "args": {k: v for k, v in vars(args).items()},
                "machine": machine, "loadavg_end": LoadAverage(),
                "source": source_info, "warmup": warm,
                "skipped": [{"tool": n, "reason": r} for n, r in skipped],
                "tools": {
                    t.name: {
                        "label": t.label, "version": t.Version(),
                        "command": t.Command(),
                        "setup_commands": t.SetupCommands(),
                        "env": t.EnvDisplay(),
                        "summary": summaries[t.name],
                        **results[t.name],
                    } for t in tools},
            }
            with open(args.json_out, "w") as f:
                json.dump(doc, f, indent=2, sort_keys=True)
                f.write("\n")
        failed = [(n, r["failed"]) for n, r in results.items() if r["failed"]]
        for name, f in failed:
            Log(f"\n{name} FAILED ({f['what']}, exit {f['exit_code']}); "
                f"stderr tail:\n{f['stderr_tail']}")
        return 1 if failed else 0
    finally:
        for t in tools:
            t.Close()  # no service outlives the harness, even on failure
        if args.keep:
            Log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            try:
                os.rmdir(args.workdir)  # only if nothing else lives there
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
