#!/usr/bin/python3
"""Whole-command backup benchmark: arca against tar|zstd, restic and borg.

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
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import time

GNU_TIME = "/usr/bin/time"
# %M: max resident set size (KiB), %e: elapsed s, %U: user s, %S: system s.
TIME_FORMAT = "%M %e %U %S"
RESTIC_PASSWORD = "arca-bench"  # restic 0.14 cannot run without one.
STDERR_TAIL_LINES = 20
MIB = 1024 * 1024


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

    for r in range(args.runs):
        order = RotatedOrder([t for t in tools if t in active], r)
        Log(f"round {r + 1}/{args.runs}: " + " ".join(t.name for t in order))
        for tool in order:
            label = f"{tool.name}-run{r + 1}"
            try:
                if args.scenario == "first":
                    tool.FreshStore(log_dir)
                tool.BeforeTimedRun()
            except StepError as e:
                Fail(tool, f"setup: {e.what}", e.returncode, e.stderr_tail)
                continue
            before = tool.StoreBytes() if args.scenario == "second" else None
            os.sync()  # start every run with no dirty pages of the others
            m = TimedRun(tool, tool.Command(), log_dir, label)
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
    }
    first = res.get("first_backup")
    if first and first["exit_code"] == 0:
        s["first_wall"] = first["wall_s"]
    return s


def Table(args, tools, results, source_info):
    baseline_name = "tar-zstd" if args.scenario == "first" else "find"
    summaries = {t.name: Summarize(t, results[t.name], args.scenario)
                 for t in tools}
    base = summaries.get(baseline_name, {}).get("wall_median")
    mib = lambda b: None if b is None else b / MIB

    if args.scenario == "first":
        head = ["tool", "median wall s", "min s", "max s",
                "× tar\\|zstd (wall)", "MB/s (source)", "median CPU s",
                "median peak RSS MiB", "repo MiB", "repo / source"]
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
        if args.scenario == "first":
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
    mem = machine.get("mem_total_bytes")
    out.append(f"- date: {started} (UTC)")
    out.append(f"- machine: {machine.get('nproc')} CPUs "
               f"({machine.get('cpu_model', '?')}), "
               f"{Fmt(mem / 2**30 if mem else None, 1)} GiB RAM, "
               f"Linux {machine.get('kernel')}; load average at start "
               f"{machine.get('loadavg_start')}, at end {LoadAverage()}")
    out.append(f"- source: `{source_info['path']}`: "
               f"{source_info['regular_files']} regular files "
               f"({source_info['regular_file_bytes']} bytes = "
               f"{source_info['regular_file_bytes'] / MIB:.1f} MiB, hard "
               f"links once), {source_info['directories']} directories, "
               f"{source_info['symlinks']} symlinks, "
               f"{source_info['other']} other")
    out.append(f"- runs: {args.runs} per tool, tools interleaved per round "
               "(round r starts with the r-th tool); "
               + ("every run starts from an empty repository/output "
                  "(rm -rf + init, untimed)"
                  if args.scenario == "first" else
                  "each tool made one first backup (timed once, used for "
                  "\"× own first backup\"; same command as its timed runs "
                  "unless a `first:` line says otherwise), then every run "
                  "is an unchanged re-backup into that same repository"))
    out.append(f"- page cache: warmed once before timing by reading the "
               f"whole source through `tar -cf - SRC | (read and discard)` "
               f"({warm['tar_bytes'] / MIB:.1f} MiB in "
               f"{warm['seconds']:.1f} s, untimed); `sync` runs (untimed) "
               "before and after every timed run")
    if args.scenario == "first":
        out.append("- baseline for the ratio column: median wall time of "
                   "`tar | zstd -3`")
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
    out.append("- sizes: `du -sb` of the repository (or output file); "
               "MiB = 2^20 bytes")
    out.append("- not identical work: restic 0.14 always encrypts and uses "
               "its `auto` compression (zstd, about level 3); borg runs "
               "with `--encryption=none`; arca has no encryption yet; "
               "`tar > file` does not fsync, the others may")
    for name, reason in skipped:
        out.append(f"- **skipped {name}**: {reason}")
    out.append("")
    table, summaries = Table(args, tools, results, source_info)
    out.append(table)
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
        if args.scenario == "first" or not isinstance(t, FindWalkTool):
            for argv in t.SetupCommands():
                out.append(f"setup: {env + ' ' if env else ''}{Shell(argv)}")
        if (args.scenario == "second" and
                isinstance(t, TarIncrementalZstdTool)):
            out.append(f"first: {Shell(t.FirstBackupCommand())}")
            out.append(f"setup: cp {t.snar0} {t.snar}")
        out.append(f"timed: {env + ' ' if env else ''}"
                   f"{GNU_TIME} -f '{TIME_FORMAT}' -o FILE "
                   f"{Shell(t.Command())}")
    out.append("```")
    return "\n".join(out), summaries


def MakeTools(args, work):
    classes = {
        "first": [ArcaTool, TarZstdTool, ResticTool, BorgTool],
        "second": [ArcaTool, TarIncrementalZstdTool, ResticTool, BorgTool,
                   FindWalkTool],
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
    p.add_argument("--scenario", choices=["first", "second"], required=True,
                   help="first: first backup into an empty repository; "
                        "second: unchanged re-backup into the same "
                        "repository, plus a find metadata walk")
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
                        "tar-g-zstd, find); default: all")
    p.add_argument("--workdir", default="/var/tmp/arca-bench",
                   help="repositories go in a fresh subdirectory of this "
                        "(default: %(default)s)")
    p.add_argument("--keep", action="store_true",
                   help="keep the repositories and logs")
    p.add_argument("--json-out", help="write all raw measurements here")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    args.source = os.path.abspath(args.source)
    args.workdir = os.path.abspath(args.workdir)
    args.arca = os.path.abspath(args.arca)
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
    try:
        tools, skipped = MakeTools(args, work)
        for t in tools:
            os.makedirs(t.dir, exist_ok=True)
        for name, reason in skipped:
            Log(f"skipping {name}: {reason}")
        if not tools:
            Log("bench.py: no tool can run")
            return 2
        machine = MachineInfo()
        Log(f"counting {args.source} ...")
        source_info = SourceInfo(args.source)
        Log(f"warming the page cache (tar of {args.source}, untimed) ...")
        warm = WarmPageCache(args.source)
        results = RunBenchmark(args, tools, work, log_dir)
        report, summaries = Report(args, machine, source_info, warm, tools,
                                   skipped, results, started, work)
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
