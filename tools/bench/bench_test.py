#!/usr/bin/python3
"""Self-test of bench.py: python3 tools/bench/bench_test.py

Runs the harness for real (--runs 1) on a small generated directory with the
peers installed on this machine, and checks the table and the raw JSON.
Kept out of Bazel on purpose (see README.md).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "bench.py")
sys.path.insert(0, HERE)
import bench  # noqa: E402


def Have(*names):
    return all(shutil.which(n) for n in names)


def MakeSource(root):
    """A small tree: text, incompressible and duplicate files, links, dirs."""
    os.makedirs(os.path.join(root, "a", "b", "c"))
    os.makedirs(os.path.join(root, "empty"))
    for i in range(40):
        with open(os.path.join(root, "a", f"text{i}.txt"), "w") as f:
            f.write(f"line {i}\n" * (50 * (i + 1)))
    with open(os.path.join(root, "a", "b", "random.bin"), "wb") as f:
        f.write(os.urandom(300 * 1024))
    shutil.copyfile(os.path.join(root, "a", "b", "random.bin"),
                    os.path.join(root, "a", "b", "c", "duplicate.bin"))
    os.symlink("../text1.txt", os.path.join(root, "a", "b", "link"))
    os.link(os.path.join(root, "a", "text2.txt"),
            os.path.join(root, "a", "b", "hardlink.txt"))


def TableRows(markdown):
    """{row label: [cells]} of the one Markdown table in the report."""
    rows = {}
    lines = [l for l in markdown.splitlines() if l.startswith("|")]
    for line in lines[2:]:  # header and separator
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0]] = cells[1:]
    return rows


def WriteScript(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class PureFunctionsTest(unittest.TestCase):

    def test_rotated_order_interleaves_tools_per_round(self):
        tools = ["A", "B", "C", "D"]
        self.assertEqual(bench.RotatedOrder(tools, 0), ["A", "B", "C", "D"])
        self.assertEqual(bench.RotatedOrder(tools, 1), ["B", "C", "D", "A"])
        self.assertEqual(bench.RotatedOrder(tools, 5), ["B", "C", "D", "A"])
        self.assertEqual(bench.RotatedOrder([], 3), [])

    def test_parse_gnu_time_skips_failure_line(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("Command exited with non-zero status 3\n"
                    "12345 1.50 0.75 0.25\n")
        try:
            self.assertEqual(bench.ParseGnuTime(f.name),
                             {"maxrss_kib": 12345, "elapsed_s": 1.5,
                              "user_s": 0.75, "sys_s": 0.25})
        finally:
            os.remove(f.name)

    def test_parse_gnu_time_missing_file_is_none(self):
        self.assertIsNone(bench.ParseGnuTime("/nonexistent/time.out"))


class HarnessTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bench_test.")
        self.source = os.path.join(self.tmp, "src")
        MakeSource(self.source)
        self.workdir = os.path.join(self.tmp, "work")
        self.json_out = os.path.join(self.tmp, "raw.json")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def Run(self, *extra):
        argv = [sys.executable, BENCH, "--source", self.source,
                "--workdir", self.workdir, "--runs", "1",
                "--json-out", self.json_out] + list(extra)
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=600)

    def LoadJson(self):
        with open(self.json_out) as f:
            return json.load(f)

    def ExpectedPeerRows(self, scenario):
        rows = []
        if scenario == "first" and Have("tar", "zstd"):
            rows.append("tar \\| zstd -3")
        if scenario == "second" and Have("tar", "zstd"):
            rows.append("tar -g \\| zstd -3")
        if Have("restic"):
            rows.append("restic")
        if Have("borg"):
            rows.append("borg zstd,3")
        if scenario == "second":
            rows.append("find walk (baseline)")
        return rows

    def CheckNumbers(self, cells, optional_columns=()):
        for i, cell in enumerate(cells):
            if i in optional_columns and cell == "—":
                continue
            self.assertGreaterEqual(float(cell), 0.0, cells)

    def test_first_scenario_with_installed_peers(self):
        p = self.Run("--scenario", "first", "--arca", "/nonexistent/arca")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("**skipped arca**: binary not found", p.stdout)
        self.assertIn("page cache: warmed once", p.stdout)
        rows = TableRows(p.stdout)
        expected = self.ExpectedPeerRows("first")
        self.assertEqual(sorted(rows), sorted(expected))
        for label in expected:
            self.CheckNumbers(rows[label])
        self.assertEqual(float(rows["tar \\| zstd -3"][3]), 1.0)  # baseline
        raw = self.LoadJson()
        self.assertEqual(raw["source"]["regular_files"], 43)
        for name, tool in raw["tools"].items():
            self.assertEqual(len(tool["runs"]), 1, name)
            run = tool["runs"][0]
            self.assertEqual(run["exit_code"], 0, name)
            self.assertGreater(run["store_bytes"], 0, name)
            self.assertGreater(run["peak_rss_kib"], 0, name)
        # The incompressible 300 KiB file is in every store at least once.
        for name, tool in raw["tools"].items():
            self.assertGreater(tool["runs"][0]["store_bytes"], 300 * 1024,
                               name)
        self.assertEqual(os.listdir(self.tmp).count("work"), 0,
                         "work directory not cleaned")

    def test_second_scenario_with_installed_peers(self):
        p = self.Run("--scenario", "second", "--arca", "/nonexistent/arca")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        expected = self.ExpectedPeerRows("second")
        self.assertEqual(sorted(rows), sorted(expected))
        for label in expected:
            # The find row has no first backup, no repository.
            self.CheckNumbers(rows[label], optional_columns=(4, 7, 8))
        self.assertEqual(float(rows["find walk (baseline)"][3]), 1.0)
        raw = self.LoadJson()
        for name, tool in raw["tools"].items():
            if name != "find":
                self.assertEqual(tool["first_backup"]["exit_code"], 0, name)
                # Unchanged source: a re-backup adds far less than the data.
                self.assertLess(tool["runs"][0]["added_bytes"], 100 * 1024,
                                name)

    def test_failing_tool_exits_nonzero_with_stderr_tail(self):
        # Test double for the arca CLI whose backup fails like a real one.
        fake = os.path.join(self.tmp, "arca-failing")
        WriteScript(fake, "#!/bin/sh\n"
                    "case \"$1\" in\n"
                    "  init) mkdir -p \"$3\"; exit 0;;\n"
                    "  backup) echo 'boom: simulated upload failure' >&2;"
                    " exit 12;;\n"
                    "esac\nexit 2\n")
        p = self.Run("--scenario", "first", "--arca", fake,
                     "--tools", "arca")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("arca FAILED (run 1, exit 12)", p.stderr)
        self.assertIn("boom: simulated upload failure", p.stderr)
        self.assertIn("arca (FAILED: run 1)", p.stdout)

    def test_arca_json_stats_are_collected(self):
        # Test double for the arca CLI interface: copies the source into the
        # repository and prints a --json document shaped like arca's.
        fake = os.path.join(self.tmp, "arca-copying")
        WriteScript(fake, "#!/bin/sh\n"
                    "case \"$1\" in\n"
                    "  init) mkdir -p \"$3\"; exit 0;;\n"
                    "  backup) cp -a \"$2\" \"$4/snap\" || exit 12\n"
                    "    echo '{\"snapshot_id\": \"x\", \"stats\": "
                    "{\"bytes_collected\": 1234, \"bytes_new_stored\": 99}}'\n"
                    "    exit 0;;\n"
                    "esac\nexit 2\n")
        p = self.Run("--scenario", "first", "--arca", fake,
                     "--tools", "arca")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        self.assertEqual(list(rows), ["arca"])
        self.CheckNumbers(rows["arca"], optional_columns=(3,))  # no baseline
        self.assertIn("bytes_collected=1234, bytes_new_stored=99", p.stdout)
        raw = self.LoadJson()
        run = raw["tools"]["arca"]["runs"][0]
        self.assertEqual(run["stdout"]["json"]["stats"]["bytes_collected"],
                         1234)
        self.assertIn("--compression zstd --level 3 --json", p.stdout)

    def test_distributed_scenario_with_built_services(self):
        root = os.path.dirname(os.path.dirname(HERE))
        arca = os.path.join(root, "bazel-out/k8-opt/bin/tools/arca/arca")
        services = os.path.join(root, "bazel-out/k8-opt/bin/services")
        needed = [arca] + [os.path.join(services, n, n)
                           for n in bench.SERVICE_NAMES]
        if not all(os.access(b, os.X_OK) for b in needed):
            self.skipTest("arca or a service binary is not built "
                          "(bazel build -c opt //tools/arca //services/...)")
        p = self.Run("--scenario", "distributed", "--arca", arca,
                     "--services-dir", services)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        dist = "arca distributed (5 services, loopback)"
        mtls = "arca distributed, mTLS on every hop"
        self.assertEqual(sorted(rows), sorted(["arca", dist, mtls]))
        self.CheckNumbers(rows["arca"], optional_columns=(7, 8))
        self.CheckNumbers(rows[dist])
        self.CheckNumbers(rows[mtls])
        self.assertEqual(float(rows["arca"][3]), 1.0)  # the baseline
        raw = self.LoadJson()
        for tool in ("arca-distributed", "arca-distributed-mtls"):
            run = raw["tools"][tool]["runs"][0]
            self.assertEqual(
                {n: s["exit_code_after_sigterm"]
                 for n, s in run["services"].items()},
                {n: 0 for n in bench.SERVICE_NAMES})
        # Every mode stored the same source: same new raw bytes.
        stats = [raw["tools"][t]["runs"][0]["stdout"]["json"]["stats"]
                 for t in ("arca", "arca-distributed", "arca-distributed-mtls")]
        self.assertEqual(stats[0]["bytes_new_raw"], stats[1]["bytes_new_raw"])
        self.assertEqual(stats[0]["bytes_new_raw"], stats[2]["bytes_new_raw"])

    def test_metrics_scenario_with_built_services(self):
        root = os.path.dirname(os.path.dirname(HERE))
        arca = os.path.join(root, "bazel-out/k8-opt/bin/tools/arca/arca")
        services = os.path.join(root, "bazel-out/k8-opt/bin/services")
        needed = [arca] + [os.path.join(services, n, n)
                           for n in bench.SERVICE_NAMES]
        if not all(os.access(b, os.X_OK) for b in needed):
            self.skipTest("arca or a service binary is not built "
                          "(bazel build -c opt //tools/arca //services/...)")
        p = self.Run("--scenario", "metrics", "--arca", arca,
                     "--services-dir", services)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        self.assertEqual(sorted(rows), sorted([
            "arca", "arca embedded + --metrics-textfile",
            "arca distributed (5 services, loopback)",
            "arca distributed + /metrics scraped every 1 s"]))
        self.assertRegex(p.stdout, r"metrics on / off, arca-textfile / arca: "
                                   r"median wall \d+\.\d{3}")
        self.assertRegex(p.stdout, r"metrics on / off, arca-distributed-"
                                   r"metrics / arca-distributed: median wall "
                                   r"\d+\.\d{3}")
        raw = self.LoadJson()
        run = raw["tools"]["arca-distributed-metrics"]["runs"][0]
        # Every endpoint was scraped at least once (the first scrape starts
        # with the run), without errors.
        self.assertGreaterEqual(run["scraping"]["scrapes"],
                                len(bench.SERVICE_NAMES))
        self.assertEqual(run["scraping"]["scrape_errors"], 0)
        cmd = raw["tools"]["arca-textfile"]["command"]
        self.assertIn("--metrics-textfile", cmd)

    def test_gc_scenario_collects_the_same_garbage_every_run(self):
        root = os.path.dirname(os.path.dirname(HERE))
        arca = os.path.join(root, "bazel-out/k8-opt/bin/tools/arca/arca")
        gc_benchmark = os.path.join(root,
                                    "bazel-out/k8-opt/bin/libs/store/gc_benchmark")
        if not all(os.access(b, os.X_OK) for b in (arca, gc_benchmark)):
            self.skipTest("arca or gc_benchmark is not built (bazel build -c "
                          "opt //tools/arca //libs/store:gc_benchmark)")
        # Small: 2000 chunks/blobs, 5 snapshots (restic: 6 backups).
        p = self.Run("--scenario", "gc", "--arca", arca, "--blobs", "2000",
                     "--snapshots", "5", "--runs", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        expected = ["arca gc"] + (["restic prune"] if Have("restic") else [])
        self.assertEqual(sorted(rows), sorted(expected))
        raw = self.LoadJson()
        arca_runs = raw["tools"]["arca"]["runs"]
        self.assertEqual([r["stdout"]["json"]["chunks_removed"]
                          for r in arca_runs], [200, 200])
        self.assertEqual([r["stdout"]["json"]["chunks_marked"]
                          for r in arca_runs], [1800, 1800])
        self.assertEqual(rows["arca gc"][7], "200")  # objects removed
        self.CheckNumbers(rows["arca gc"][:7], optional_columns=(3, 6))
        self.assertIn("Target (issue: 1,000,000 chunks", p.stdout)
        self.assertIn("this run has 2000 chunks and 5 snapshots", p.stdout)
        if Have("restic"):
            setup = raw["tools"]["restic"]["setup"]
            self.assertEqual(setup["data_blobs"], 2000)
            self.assertEqual(setup["forgotten_snapshots"], 1)
            self.CheckNumbers(rows["restic prune"][:7])
            self.assertEqual(float(rows["restic prune"][3]), 1.0)  # baseline
            # Every prune started from the same template: same summary.
            prunes = [r["stdout"]["prune"]
                      for r in raw["tools"]["restic"]["runs"]]
            self.assertEqual(prunes[0], prunes[1])
            # The 200 garbage data blobs and the forgotten snapshot's trees.
            self.assertGreaterEqual(int(prunes[0]["to delete"].split()[0]),
                                    200)
        else:
            self.assertIn("**skipped restic**", p.stdout)

    def test_mount_scenario_reads_the_same_bytes_as_restore(self):
        root = os.path.dirname(os.path.dirname(HERE))
        arca = os.path.join(root, "bazel-out/k8-opt/bin/tools/arca/arca")
        if not os.access(arca, os.X_OK):
            self.skipTest("arca is not built (bazel build -c opt //tools/arca)")
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):
            self.skipTest("no usable /dev/fuse: scenario mount cannot run")
        p = self.Run("--scenario", "mount", "--arca", arca, "--mount-mib", "8",
                     "--runs", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        self.assertEqual(sorted(rows),
                         ["arca restore", "cat through arca mount"])
        for label in rows:
            self.CheckNumbers(rows[label][:3])
            self.assertEqual(rows[label][3:], ["2/2", "yes"], rows[label])
        self.assertRegex(p.stdout, r"throughput: \*\*\d+\.\d\d\*\*")
        raw = self.LoadJson()
        self.assertEqual(raw["setup"]["file_bytes"], 8 * 1024 * 1024)
        mount_runs = raw["tools"]["mount"]["runs"]
        self.assertEqual([m["mount_exit_code"] for m in mount_runs], [0, 0])
        self.assertTrue(mount_runs[0]["identical"])
        self.assertTrue(raw["tools"]["restore"]["runs"][0]["identical"])
        # Every mount was released and the work directory removed.
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.workdir, f.read())
        self.assertFalse(os.path.exists(self.workdir))

    def test_mount_scenario_without_arca_exits_2(self):
        p = self.Run("--scenario", "mount", "--arca", "/nonexistent/arca")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("scenario mount cannot run", p.stderr)

    def ProcessesMentioning(self, text):
        """Pids whose command line contains `text` (e.g. the work dir)."""
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
        return pids

    def test_s3_scenario_with_built_rgw(self):
        root = os.path.dirname(os.path.dirname(HERE))
        arca = os.path.join(root, "bazel-out/k8-opt/bin/tools/arca/arca")
        rgw = os.path.join(root,
                           "bazel-out/k8-opt/bin/libs/testing/rgw_server_main")
        if not all(os.access(b, os.X_OK) for b in (arca, rgw)):
            self.skipTest("arca or rgw_server_main is not built (bazel build "
                          "-c opt //tools/arca //libs/testing:rgw_server_main)")
        p = self.Run("--scenario", "s3", "--arca", arca)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = TableRows(p.stdout)
        tools = ["arca, local directory", "arca, s3:// on RGW"]
        if Have("restic"):
            tools.append("restic, s3: on RGW")
        else:
            self.assertIn("**skipped restic-s3**", p.stdout)
        self.assertEqual(sorted(rows), sorted(
            [f"first: {t}" for t in tools]
            + [f"second (unchanged): {t}" for t in tools]))
        for label, cells in rows.items():
            self.CheckNumbers(cells[:6])
        raw = self.LoadJson()
        s3 = raw["tools"]["arca-s3"]
        first = s3["runs"][0]["stdout"]["json"]["s3_requests"]
        second = s3["second_runs"][0]["stdout"]["json"]["s3_requests"]
        self.assertGreater(first["by_op"]["PutObject"], 0)
        self.assertEqual(first["total"], sum(first["by_op"].values()))
        self.assertLess(second["total"], bench.S3_TARGET_REQUESTS)
        self.assertEqual(second["total"], sum(second["by_op"].values()))
        self.assertEqual(rows["second (unchanged): arca, s3:// on RGW"][6],
                         str(second["total"]))
        self.assertEqual(rows["first: arca, local directory"][6], "—")
        self.assertIn("S3 requests of arca's unchanged re-backup: "
                      f"{second['total']} ", p.stdout)
        self.assertIn("arca-S3 throughput × arca-local = ", p.stdout)
        # The RGW of the round was stopped and its directory removed.
        self.assertEqual(self.ProcessesMentioning(self.workdir), [])
        self.assertFalse(os.path.exists(self.workdir))

    def test_s3_failure_stops_the_rgw(self):
        # A double of rgw_server_main that prints what the real one prints
        # and waits (recording its pid), and an arca whose backup fails.
        rgw = os.path.join(self.tmp, "rgw_server_main")
        pids = os.path.join(self.tmp, "pids")
        WriteScript(rgw, "#!/bin/sh\n"
                    f"echo $$ >> {pids}\n"
                    "echo AWS_ENDPOINT_URL=http://127.0.0.1:9\n"
                    "echo AWS_ACCESS_KEY_ID=k\necho AWS_SECRET_ACCESS_KEY=s\n"
                    "echo AWS_REGION=us-east-1\necho READY\n"
                    "exec sleep 300\n")
        fake_arca = os.path.join(self.tmp, "arca-init-only")
        WriteScript(fake_arca, "#!/bin/sh\n"
                    "case \"$1\" in init) exit 0;; esac\n"
                    "echo 'arca: simulated S3 failure' >&2; exit 4\n")
        p = self.Run("--scenario", "s3", "--arca", fake_arca, "--rgw-server",
                     rgw, "--tools", "arca-s3", "--runs", "2")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("arca-s3 FAILED (run 1 (first backup), exit 4)",
                      p.stderr)
        self.assertIn("arca: simulated S3 failure", p.stderr)
        with open(pids) as f:
            started = [int(l) for l in f.read().split()]
        self.assertEqual(len(started), 1)  # no second round after a failure
        for pid in started:
            with self.assertRaises(ProcessLookupError, msg=f"pid {pid}"):
                os.kill(pid, 0)

    def test_s3_rgw_that_cannot_start_fails_only_the_s3_rows(self):
        rgw = os.path.join(self.tmp, "rgw_server_main")
        WriteScript(rgw, "#!/bin/sh\necho 'rgw: simulated start failure' >&2; "
                    "exit 1\n")
        fake_arca = os.path.join(self.tmp, "arca-init-only")
        WriteScript(fake_arca, "#!/bin/sh\n"
                    "case \"$1\" in init) exit 0;; esac\n"
                    "echo '{\"stats\": {}}'\n")
        p = self.Run("--scenario", "s3", "--arca", fake_arca, "--rgw-server",
                     rgw, "--tools", "arca-local,arca-s3")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("rgw: simulated start failure", p.stderr)
        rows = TableRows(p.stdout)
        self.CheckNumbers(rows["first: arca, local directory"][:6])
        self.assertTrue(any(label.startswith(
            "first: arca, s3:// on RGW (FAILED: setup:") for label in rows),
            rows)

    def test_distributed_setup_failure_stops_started_services(self):
        # Test doubles for the services: four that print their address and
        # sleep (recording their pid), and an orchestrator that fails.
        services = os.path.join(self.tmp, "services")
        pids = os.path.join(self.tmp, "pids")
        for name in bench.SERVICE_NAMES:
            os.makedirs(os.path.join(services, name))
            body = (f"echo $$ >> {pids}\n"
                    "echo 'listening on 127.0.0.1:1'\nexec sleep 300\n")
            if name == "orchestrator":
                body = "echo 'orchestrator: simulated bad flag' >&2; exit 2\n"
            WriteScript(os.path.join(services, name, name),
                        "#!/bin/sh\n" + body)
        fake_arca = os.path.join(self.tmp, "arca-init-only")
        WriteScript(fake_arca, "#!/bin/sh\n"
                    "case \"$1\" in init) mkdir -p \"$3\"; exit 0;; esac\n"
                    "exit 2\n")
        p = self.Run("--scenario", "distributed", "--arca", fake_arca,
                     "--services-dir", services, "--tools",
                     "arca-distributed")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("arca-distributed FAILED (setup:", p.stderr)
        self.assertIn("orchestrator: simulated bad flag", p.stderr)
        with open(pids) as f:
            started = [int(l) for l in f.read().split()]
        self.assertEqual(len(started), 4)
        for pid in started:
            with self.assertRaises(ProcessLookupError, msg=f"pid {pid}"):
                os.kill(pid, 0)


if __name__ == "__main__":
    unittest.main()
