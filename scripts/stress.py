#!/usr/bin/env python3
"""sea stress run: many launchers, clean-ups, updates and injected faults at once, with invariant
checks after every round. Run it through scripts/stress.sh, which builds the binaries.

What runs, in rounds (each round starts its jobs at staggered instants, then waits for all):
  * app launches of 5 packed versions of a tiny app (about 100 files, so that extraction takes
    a while), with updates (the default), bundled only (AUTO_UPDATE=0) or pinned (<PREFIX>_VERSION);
    the app exits at once, runs a while (some past the launcher's background check), exits 75
    once (with or without a restart file, which pins the version and adds a variable), or exits
    with a code of its choosing;
  * `--sea-gc` (GC_MIN_AGE_DAYS=0), one or two at once, and `--sea-update` against a signed feed
    on a loopback HTTP server (Range support, throttled artifacts so that downloads take a while);
    a new version is released to the feed every few rounds, so updates really install;
  * SIGKILL of launchers at random instants: start-up, cold extraction (after a round that left
    no tree, the first launchers are killed part-way), mid-run, during `--sea-gc`, during
    `--sea-update` downloads and installs;
  * files of trees deleted or truncated: between rounds (the next start must repair executables
    at once) and during rounds (data files and the helper of trees in use); the whole cache wiped
    between rounds now and then.

What is checked (every violation is printed and counted; exit status 1 if there is any):
  * the app itself records what it sees: its version and PKG_DIR agree with the launcher's
    variables, every file of its tree (entry, helper, data, .sea/manifest.json, .sea/index.json)
    exists with the right size and mode at start and at the end of a long run, and its helper
    spawns from its tree at the end. Damage is excused only where this driver damaged that very
    tree (identified by inode), and for the entry, the helper and the manifest only when damaged
    after the launcher started: those must be repaired by every start;
  * a tree never vanishes under a running app; no app runs on after its launcher was killed;
  * every launch succeeded, or failed with a `stressapp: ` message and an exit code other than 0
    and 75 for a reason the job implies (a pinned version that is not installed); a launcher's
    stderr holds only its own `stressapp: ` lines; exit codes are the app's; restarts happen once,
    and a restart file's version and variables reach the next run;
  * after a successful `--sea-update`, the newest release is installed;
  * a monitor scans the cache during rounds: no tree is visible under its final name without its
    completion mark (unless this driver damaged it). After each round: only our names in the
    cache, every tree known, complete and exactly its payload (files, sizes, modes, no extras)
    unless damaged by this driver, update trees marked as such, restart files only of killed
    launchers, nothing in HOME but the cache and home, nothing in TMPDIR or the working directory;
  * at the end: one more update, every version run long enough for its background check and
    again to repair, a final `--sea-gc`; then no .tmp-/.trash- leftovers, no damaged or partial
    tree, every tree exactly its payload, and nothing named after the app new in /tmp or /var/tmp.

Violations that look like a fixed, test-pinned product bug are labelled with that test's name.
`--canary` adds faults the checks are not told about, to show that they fire (the run must fail).

The closing line on stderr:
  stress: <rounds> rounds, <launches> launches, <kills> kills, <updates> updates, <gc> gc runs,
  <violations> invariant violations (<seconds>s)
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

NAME = "stressapp"
PREFIX = "STRESSAPP"
BUNDLED = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
TREE_ID = re.compile(r"^(\d+\.\d+\.\d+)-([0-9a-f]{12})$")
SCRATCH = re.compile(r"^\.(\d+\.\d+\.\d+-[0-9a-f]{12})\.(tmp|trash)-\d+-\d+$")
JOB_TIMEOUT = 120.0
ENTRY = "bin/app"
HELPER = "libexec/helper"
MANIFEST = ".sea/manifest.json"
INDEX = ".sea/index.json"
UPDATE_MARK = ".sea/update"
# A tree extracted at a cold start and not yet flushed to disk holds this boot's id here (the
# launcher's flush.rs); trees installed by updates are flushed first and never do.
UNFLUSHED = ".sea/unflushed"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
# Product bugs once found by this run, now fixed and pinned by tests in tests/e2e/faults.rs; a violation
# that looks like one of them is labelled with the test that pins it.
KNOWN_GC_RACE = "regression of faults::concurrent_cleanups_do_not_fail_on_a_tree_the_other_one_removed"
KNOWN_LOST_UPDATE = "regression of faults::an_update_whose_tree_was_lost_is_installed_again"
# Files a launcher must check at every start: damage to them must never reach an app that
# started after the damage.
STRICT = {ENTRY, HELPER, MANIFEST}

APP_SCRIPT = r"""#!/bin/sh
# stressapp __V__: $1 = report file, $2 = mode, $3 = mode argument. Records what it sees.
r=$1 mode=$2 a=$3
exec >/dev/null 2>>"$r.err"
d=$STRESSAPP_PKG_DIR
F='__FILES__'
obs() {
  echo "obs $1" >> "$r"
  set --
  for f in $F; do set -- "$@" "$d/$f"; done
  stat -c 'f %n %s %i %a' -- "$@" >> "$r" 2>/dev/null || echo "statfail" >> "$r"
}
echo "run $$ $STRESSAPP_LOADER_PID $STRESSAPP_APP_VERSION __V__ $d ${STRESS_RESTARTED:-0}" >> "$r"
obs start
case $mode in
  sleep) sleep "$a"; obs end ;;
esac
if "$d/libexec/helper" ok >> "$r" 2>&1; then :; else echo "helperfail $?" >> "$r"; fi
case $mode in
  restart)
    if [ ! -e "$r.restarted" ]; then : > "$r.restarted"; echo "end 75" >> "$r"; exit 75; fi ;;
  restartfile)
    if [ ! -e "$r.restarted" ]; then
      : > "$r.restarted"
      printf '{"args": ["%s", "quick"], "env": {"STRESS_RESTARTED": "1"}, "version": "%s"}' \
        "$r" "$STRESSAPP_APP_VERSION" > "$STRESSAPP_RESTART_FILE"
      echo "end 75" >> "$r"; exit 75
    fi ;;
  code) echo "end $a" >> "$r"; exit "$a" ;;
esac
echo "end 0" >> "$r"
exit 0
"""

HELPER_SCRIPT = "#!/bin/sh\necho \"helper $1\"\n"


def log(msg: str) -> None:
    print(f"stress: {msg}", file=sys.stderr, flush=True)


@dataclass
class Version:
    """One packed version: what its tree must hold, computed from its sources and sea-pack inspect."""

    version: str
    binary: Path
    tree_id: str
    update: bool
    files: dict[str, int]  # relative path -> size, including .sea/manifest.json and .sea/index.json
    executables: set[str]
    dirs: set[str]


@dataclass
class Injection:
    ino: int
    tree_id: str
    path: str
    when: float
    phase: str  # "between" or "mid"


@dataclass
class Job:
    kind: str  # app, gc, update
    argv: list[str]
    env: dict[str, str]
    desc: str
    delay: float = 0.0
    kill_after: float | None = None
    mode: str = "quick"
    code: int = 0
    pin: str | None = None
    report: Path | None = None
    pid: int = 0
    t_spawn: float = 0.0
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    killed: bool = False
    hung: bool = False


class FeedHandler(http.server.BaseHTTPRequestHandler):
    """A static file server with `Range: bytes=N-` and throttled artifacts (downloads take long
    enough to be killed in the middle)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        srv = self.server
        rel = self.path.split("?", 1)[0].lstrip("/")
        try:
            data = (srv.root / rel).read_bytes()  # type: ignore[attr-defined]
        except OSError:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            srv.stats["ranged"] += 1  # type: ignore[attr-defined]
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        srv.stats["requests"] += 1  # type: ignore[attr-defined]
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        try:
            if rel.endswith(".sea"):
                chunk = 64 * 1024
                pause = chunk / srv.rate  # type: ignore[attr-defined]
                for at in range(0, len(body), chunk):
                    self.wfile.write(body[at : at + chunk])
                    time.sleep(pause)
            else:
                self.wfile.write(body)
        except OSError:
            pass  # a killed client


class FeedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-request


class Stress:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work: Path = args.work.resolve()
        self.home = self.work / "home"
        self.cache = self.home / ".cache" / NAME
        self.app_home = self.home / f".{NAME}"
        self.tmp = self.work / "tmp"
        self.cwd = self.work / "cwd"
        self.reports = self.work / "reports"
        self.feed = self.work / "feed"
        self.bins = self.work / "bin"
        self.apps = self.work / "apps"
        self.platform = ""
        self.pkg = Path()
        self.versions: dict[str, Version] = {}  # by version string
        self.by_id: dict[str, Version] = {}
        self.injections: list[Injection] = []
        self.inj_lock = threading.Lock()
        self.violations: list[str] = []
        self.viol_lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.killed_pids: set[int] = set()
        self.home_temps: set[str] = set()
        self.pid_jobs: dict[int, Job] = {}
        self.cut_extractions: set[str] = set()
        self.extracting_pids: set[int] = set()
        self.cold = True
        self.live: dict[int, subprocess.Popen[bytes]] = {}
        self.live_lock = threading.Lock()
        self.round = 0
        self.next_update = 0
        self.released: list[str] = []
        self.present_updates: list[str] = []
        self.started = time.monotonic()
        self.token = 0
        self.server: http.server.ThreadingHTTPServer | None = None
        self.public_key = ""
        self.key = self.work / "keys" / "release.key"
        self.monitor_stop = threading.Event()
        self.monitor_active = threading.Event()

    # ---------------------------------------------------------------- set-up

    def sea_pack(self, *argv: str | Path) -> str:
        out = subprocess.run(
            [str(self.args.sea_pack), *map(str, argv)], capture_output=True, text=True, env=self.base_env()
        )
        if out.returncode != 0:
            raise SystemExit(f"stress: sea-pack {argv[0]} failed: {out.stderr.strip()}")
        return out.stdout

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.tmp),
            f"{PREFIX}_GC_MIN_AGE_DAYS": "0",
            f"{PREFIX}_UPDATE_TIMEOUT": "20",
        }

    def setup(self) -> None:
        for d in (self.home, self.tmp, self.cwd, self.reports, self.feed, self.bins, self.apps, self.key.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.public_key = self.sea_pack("keygen", "-o", self.key).split()[-1]
        srv = FeedServer(("127.0.0.1", 0), FeedHandler)
        srv.root = self.feed  # type: ignore[attr-defined]
        srv.rate = self.args.download_rate  # type: ignore[attr-defined]
        srv.stats = Counter()  # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, name="feed", daemon=True).start()
        self.server = srv
        for v in BUNDLED:
            self.pack(v, update=False)
        self.platform = json.loads(self.sea_pack("inspect", "--json", self.versions[BUNDLED[0]].binary))["manifest"][
            "platform"
        ]
        self.pkg = self.cache / "pkg" / self.platform
        self.release_next()

    def feed_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/stable.json"

    def pack(self, version: str, update: bool) -> Version:
        """Writes and packs version `version` of the app; returns what its tree must hold."""
        src = self.apps / version
        rng = random.Random(f"{self.args.seed}-{version}")
        files: dict[str, int] = {}
        dirs = {"bin", "libexec", "share", ".sea"}
        (src / "bin").mkdir(parents=True)
        (src / "libexec").mkdir()
        (src / "share").mkdir()
        # Updates are bigger (downloads and installs that take a while), bundled versions have
        # more small files (extractions that take a while).
        count, low, high = (8, 150_000, 350_000) if update else (100, 500, 30_000)
        for i in range(count):
            rel = f"share/data-{i:02}.bin"
            size = rng.randint(low, high)
            (src / rel).write_bytes(rng.randbytes(size))
            files[rel] = size
        (src / "share/version.txt").write_text(version + "\n")
        files["share/version.txt"] = len(version) + 1
        (src / HELPER).write_text(HELPER_SCRIPT)
        files[HELPER] = len(HELPER_SCRIPT)
        listed = [".", MANIFEST, INDEX, ENTRY, *sorted(files)]
        script = APP_SCRIPT.replace("__V__", version).replace("__FILES__", " ".join(listed))
        (src / ENTRY).write_text(script)
        files[ENTRY] = len(script.encode())
        for exe in (ENTRY, HELPER):
            (src / exe).chmod(0o755)
        out = self.bins / f"{NAME}-{version}"
        self.sea_pack(
            "build",
            src,
            "--name",
            NAME,
            "--version",
            version,
            "--entry",
            ENTRY,
            "--compression",
            "zstd:1",
            "--feed",
            self.feed_url(),
            "--public-key",
            self.public_key,
            "--sign-key",
            self.key,
            "-o",
            out,
        )
        info = json.loads(self.sea_pack("inspect", "--json", out))
        manifest = info["manifest"]
        if manifest["entries"] != len(files) + len(dirs) - 1:  # the index lists the app's files and dirs
            raise SystemExit(f"stress: {out} has {manifest['entries']} entries, expected {len(files) + len(dirs) - 1}")
        files[MANIFEST] = info["layout"]["manifest"]["length"]
        files[INDEX] = info["layout"]["index"]["length"]
        if update:
            files[UPDATE_MARK] = 0
        tree_id = f"{version}-{manifest['payload']['sha256'][:12]}"
        v = Version(version, out, tree_id, update, files, {ENTRY, HELPER}, dirs)
        if {e["path"] for e in manifest["executables"]} != v.executables:
            raise SystemExit(f"stress: unexpected executables in {out}: {manifest['executables']}")
        self.versions[version] = v
        self.by_id[tree_id] = v
        return v

    def release_next(self) -> None:
        version = f"2.{self.next_update}.0"
        self.next_update += 1
        v = self.pack(version, update=True)
        assert self.server is not None
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.sea_pack("release", v.binary, "--base-url", base, "-o", self.feed, "--sign-key", self.key)
        self.released.append(version)
        self.counts["releases"] += 1

    # ---------------------------------------------------------------- jobs

    def violation(self, msg: str) -> None:
        with self.viol_lock:
            self.violations.append(f"round {self.round}: {msg}")
            if len(self.violations) <= self.args.show:
                log(f"VIOLATION round {self.round}: {msg}")

    def app_job(self, final: bool = False, mode: str | None = None, version: str | None = None) -> Job:
        rng = self.rng
        self.token += 1
        report = self.reports / f"r{self.token}"
        binary = self.versions[version or rng.choice(BUNDLED)].binary
        mode = mode or rng.choices(["quick", "sleep", "restart", "restartfile", "code"], [50, 22, 10, 10, 8])[0]
        argv = [str(binary), str(report), mode]
        code = 0
        if mode == "sleep":
            # Some run past the launcher's background check (about 1.2 s after start), which finds
            # damage to data files and marks the tree for repair at the next start.
            if final:
                argv.append("2.0")
            elif rng.random() < 0.2:
                argv.append(f"{rng.uniform(1.4, 1.9):.2f}")
            else:
                argv.append(f"{rng.uniform(0.05, self.args.max_sleep):.2f}")
        elif mode == "code":
            code = rng.choice([1, 2, 3, 42, 100, 125])
            argv.append(str(code))
        env = self.base_env()
        pin = None
        choice = rng.random()
        if final or choice < 0.35:
            env[f"{PREFIX}_AUTO_UPDATE"] = "0"
        elif choice < 0.45:
            # Its own version, an installed update (it may be removed meanwhile), or one that is
            # not there at all.
            candidates = [binary.name.split("-", 1)[1], *self.present_updates]
            pin = rng.choice(candidates) if rng.random() < 0.9 else rng.choice([*self.released, "9.9.9"])
            env[f"{PREFIX}_VERSION"] = pin
        kill_after = None
        if not final and rng.random() < self.args.kill_rate:
            kill_after = rng.choice(
                [rng.uniform(0, 0.004), rng.uniform(0.004, 0.04), rng.uniform(0.04, 0.3), rng.uniform(0.3, 0.8)]
            )
        desc = f"{binary.name} {mode} {' '.join(argv[3:])} pin={pin} auto={env.get(f'{PREFIX}_AUTO_UPDATE', '1')}"
        return Job(
            "app", argv, env, desc, rng.uniform(0, 0.25), kill_after, mode, code, pin, report
        )

    def gc_job(self) -> Job:
        binary = self.versions[self.rng.choice(BUNDLED)].binary
        kill = self.rng.uniform(0, 0.03) if self.rng.random() < self.args.gc_kill_rate else None
        argv = [str(binary), "--sea-gc"]
        return Job("gc", argv, self.base_env(), f"{binary.name} --sea-gc", self.rng.uniform(0, 0.25), kill)

    def update_job(self) -> Job:
        binary = self.versions[self.rng.choice(BUNDLED)].binary
        kill = self.rng.uniform(0, 0.8) if self.rng.random() < self.args.update_kill_rate else None
        argv = [str(binary), "--sea-update"]
        return Job("update", argv, self.base_env(), f"{binary.name} --sea-update", self.rng.uniform(0, 0.2), kill)

    def run_job(self, job: Job) -> None:
        time.sleep(job.delay)
        job.t_spawn = time.monotonic()
        pipe = subprocess.PIPE
        proc = subprocess.Popen(
            job.argv, env=job.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe
        )
        job.pid = proc.pid
        self.pid_jobs[proc.pid] = job
        with self.live_lock:
            self.live[proc.pid] = proc
        try:
            try:
                out, err = proc.communicate(timeout=job.kill_after if job.kill_after is not None else JOB_TIMEOUT)
            except subprocess.TimeoutExpired:
                if job.kill_after is None:
                    job.hung = True
                proc.kill()
                out, err = proc.communicate()
        finally:
            with self.live_lock:
                self.live.pop(proc.pid, None)
        job.rc = proc.returncode
        job.killed = job.kill_after is not None and proc.returncode == -signal.SIGKILL
        if job.killed:
            self.killed_pids.add(proc.pid)
        job.stdout = out.decode(errors="replace")
        job.stderr = err.decode(errors="replace")

    def run_all(self, jobs: list[Job], extra: list[threading.Thread] | None = None) -> None:
        threads = [threading.Thread(target=self.run_job, args=(j,), daemon=True) for j in jobs]
        for t in [*threads, *(extra or [])]:
            t.start()
        for t in [*threads, *(extra or [])]:
            t.join()

    # ---------------------------------------------------------------- faults

    def damage(self, phase: str, executables: bool, record: bool = True) -> None:
        """Deletes or truncates one or two files of an existing bundled tree, recording the tree's
        inode first. Works through a descriptor of the tree so the damage lands in the recorded
        inode even if the tree is swapped meanwhile."""
        trees = [n for n in self.list_pkg() if n in self.by_id and not self.by_id[n].update]
        if not trees:
            return
        tid = self.rng.choice(trees)
        v = self.by_id[tid]
        pool = [p for p in v.files if p != ENTRY] if not executables else list(v.files)
        if phase == "mid":
            pool = [p for p in pool if p not in (ENTRY, MANIFEST)]
        targets = self.rng.sample(pool, k=min(len(pool), self.rng.choice([1, 1, 2])))
        if executables and phase == "between" and self.rng.random() < 0.7:
            targets = [self.rng.choice([ENTRY, HELPER])]
        try:
            fd = os.open(self.pkg / tid, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            ino = os.fstat(fd).st_ino
            for rel in targets:
                parent, _, name = rel.rpartition("/")
                try:
                    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                except OSError:
                    continue
                try:
                    if self.rng.random() < 0.5:
                        os.unlink(name, dir_fd=pfd)
                    else:
                        f = os.open(name, os.O_WRONLY, dir_fd=pfd)
                        try:
                            os.ftruncate(f, v.files[rel] // 2)
                        finally:
                            os.close(f)
                    self.counts[f"damage-{phase}"] += 1
                except OSError:
                    pass
                finally:
                    os.close(pfd)
                    # Recorded once done: a launcher that started before this instant may have
                    # passed its check before the damage.
                    if record:
                        with self.inj_lock:
                            self.injections.append(Injection(ino, tid, rel, time.monotonic(), phase))
        finally:
            os.close(fd)

    def injected(
        self, ino: int, tid: str, rel: str | None = None, after: float | None = None, other_than: str | None = None
    ) -> bool:
        """Whether this driver damaged tree `tid` with inode `ino` (file `rel`, after `after`)."""
        with self.inj_lock:
            for inj in self.injections:
                if inj.ino != ino or inj.tree_id != tid or inj.path == other_than:
                    continue
                if (rel is None or inj.path == rel) and (after is None or inj.when > after):
                    return True
        return False

    def canary(self) -> None:
        """--canary: faults the checker is not told about, to show that the checks fire: a tree
        damaged under running apps, and a directory that looks like a partial tree."""
        time.sleep(0.1)
        self.damage("mid", executables=False, record=False)
        v = self.versions[self.rng.choice(BUNDLED)]
        if not (self.pkg / v.tree_id).exists():
            (self.pkg / v.tree_id / ".sea").mkdir(parents=True, exist_ok=True)

    def mid_round_damage(self) -> None:
        time.sleep(self.rng.uniform(0.05, 0.6))
        self.damage("mid", executables=False)

    # ---------------------------------------------------------------- checks

    def list_pkg(self) -> list[str]:
        try:
            return sorted(os.listdir(self.pkg))
        except FileNotFoundError:
            return []

    def monitor(self) -> None:
        """During rounds: no tree is ever visible under its final name without its completion mark
        (unless this driver damaged it)."""
        while not self.monitor_stop.is_set():
            if not self.monitor_active.wait(0.05):
                continue
            for name in self.list_pkg():
                m = SCRATCH.match(name)
                if m and m.group(2) == "tmp":
                    self.extracting_pids.add(int(name.rsplit("-", 2)[1]))
                if not TREE_ID.match(name):
                    continue
                tree = self.pkg / name
                try:
                    before = os.stat(tree).st_ino
                    complete = os.path.isfile(tree / MANIFEST)
                    after = os.stat(tree).st_ino
                except FileNotFoundError:
                    continue
                if complete or before != after:
                    continue
                if not self.injected(before, name):
                    self.violation(f"monitor: {name} is visible without {MANIFEST} (a partial tree)")
            self.counts["monitor-scans"] += 1
            time.sleep(0.02)

    def check_app(self, job: Job) -> None:
        assert job.report is not None
        lines = job.report.read_text().splitlines() if job.report.exists() else []
        err = job.report.with_name(job.report.name + ".err")
        if err.exists() and err.stat().st_size:
            self.violation(f"{job.desc}: the app wrote to stderr: {err.read_text()[:300]!r}")
        runs: list[list[str]] = []
        for line in lines:
            if line.startswith("run "):
                runs.append([])
            if runs:
                runs[-1].append(line)
        launched_ok = self.check_exit(job, bool(runs))
        if job.hung:
            self.violation(f"{job.desc}: still running after {JOB_TIMEOUT}s")
        for run in runs:
            self.check_run(job, run)
        if runs:
            self.counts["app-runs"] += len(runs)
        if launched_ok and not job.killed:
            want = 2 if job.mode in ("restart", "restartfile") else 1
            if len(runs) != want:
                self.violation(f"{job.desc}: {len(runs)} app runs, expected {want}: {lines[:4]}")
            if job.mode == "restartfile" and len(runs) == 2:
                first, second = runs[0][0].split(), runs[1][0].split()
                if second[6] != "1":
                    self.violation(f"{job.desc}: the restart file's env did not reach the second run")
                if first[3] != second[3]:
                    self.violation(f"{job.desc}: the restart file pinned {first[3]}, the second run is {second[3]}")

    def check_exit(self, job: Job, started: bool) -> bool:
        """Exit code and stderr of an app launch; returns whether the launch itself succeeded."""
        rc = job.rc
        lines = job.stderr.splitlines()
        if job.killed and not job.stderr.endswith("\n"):
            lines = lines[:-1]  # a message cut short by the kill (the launcher writes it in pieces)
        foreign = [l for l in lines if not l.startswith(f"{NAME}: ")]
        if foreign:
            self.violation(f"{job.desc}: stderr lines not the launcher's: {foreign[:3]} in {job.stderr[:600]!r}")
        for line in job.stderr.splitlines():
            if line.startswith(f"{NAME}: warning: "):
                self.warnings[re.sub(r"\d+\.\d+\.\d+(-[0-9a-f]{12})?", "X", line[len(NAME) + 11 :])[:90]] += 1
        if "panicked" in job.stderr:
            self.violation(f"{job.desc}: panic: {job.stderr[:300]!r}")
        if job.killed:
            return False
        if rc is None or rc < 0:
            self.violation(f"{job.desc}: died of signal {-(rc or 0)} (the app never dies of a signal here)")
            return False
        if rc == 75:
            self.violation(f"{job.desc}: exit code 75 (restart storm?): {job.stderr.strip()[:300]}")
            return False
        expected = job.code if job.mode == "code" else 0
        if rc == expected:
            return True
        # A launcher failure: clear message, and a reason this job implies.
        errors = [l for l in job.stderr.splitlines() if l.startswith(f"{NAME}: ") and ": warning: " not in l]
        if not errors:
            self.violation(f"{job.desc}: exit code {rc} without a '{NAME}: ' message (stderr {job.stderr[:200]!r})")
            return False
        if started and rc not in (69,):
            self.violation(f"{job.desc}: the app ran but the launcher exited {rc}: {errors[-1]}")
            return False
        if job.pin and rc == 69 and f"version {job.pin} is not available" in job.stderr:
            self.failures["pinned version not available"] += 1
            return False
        self.violation(f"{job.desc}: launcher failed with {rc}: {' / '.join(errors)[:400]}")
        return False

    def check_run(self, job: Job, run: list[str]) -> None:
        head = run[0].split()
        if len(head) != 7:
            self.violation(f"{job.desc}: malformed run line {run[0]!r}")
            return
        _, _, loader, env_version, own_version, pkg_dir, _ = head
        v = self.versions.get(own_version)
        if v is None or env_version != own_version:
            self.violation(f"{job.desc}: APP_VERSION={env_version} but the app is {own_version}")
            return
        if pkg_dir != str(self.pkg / v.tree_id):
            self.violation(f"{job.desc}: PKG_DIR={pkg_dir}, expected {self.pkg / v.tree_id}")
        if loader != str(job.pid):
            self.violation(f"{job.desc}: LOADER_PID={loader}, launcher pid {job.pid}")
        if job.pin and job.pin != own_version:
            self.violation(f"{job.desc}: pinned {job.pin} but ran {own_version}")
        if job.kind == "app" and job.env.get(f"{PREFIX}_AUTO_UPDATE") == "0" and v.update:
            self.violation(f"{job.desc}: AUTO_UPDATE=0 ran update {own_version}")
        inodes: set[int] = set()
        i = 1
        while i < len(run):
            line = run[i]
            if line.startswith("obs "):
                phase = line[4:]
                seen: dict[str, tuple[int, int, str]] = {}
                statfail = False
                i += 1
                while i < len(run) and (run[i].startswith("f ") or run[i].startswith("statfail")):
                    if run[i].startswith("statfail"):
                        statfail = True
                    else:
                        parts = run[i].split()
                        if len(parts) == 5 and parts[1].startswith(pkg_dir + "/"):
                            seen[parts[1][len(pkg_dir) + 1 :]] = (int(parts[2]), int(parts[3]), parts[4])
                    i += 1
                self.check_obs(job, v, phase, seen, statfail, inodes)
                continue
            if line.startswith("helperfail"):
                if not any(self.injected(ino, v.tree_id, HELPER, job.t_spawn) for ino in inodes):
                    self.violation(f"{job.desc}: the helper could not be spawned from {v.tree_id}: {line}")
            i += 1
        if not job.killed and not any(l.startswith("end ") for l in run):
            self.violation(f"{job.desc}: the app run did not finish: {run[-3:]}")
        if not job.killed and not any(l == "helper ok" for l in run) and not any(
            l.startswith("helperfail") for l in run
        ):
            self.violation(f"{job.desc}: no helper result")

    def check_obs(
        self, job: Job, v: Version, phase: str, seen: dict[str, tuple[int, int, str]], statfail: bool, inodes: set[int]
    ) -> None:
        if "." not in seen:
            if job.killed and not seen and not statfail:
                return  # killed while observing
            self.violation(f"{job.desc}: PKG_DIR {v.tree_id} vanished under the running app ({phase})")
            return
        ino = seen["."][1]
        inodes.add(ino)
        for rel, size in v.files.items():
            if rel == UPDATE_MARK:
                continue
            got = seen.get(rel)
            if got is not None and got[0] == size:
                if rel in v.executables and not int(got[2], 8) & 0o100:
                    self.violation(f"{job.desc}: {rel} of {v.tree_id} is not executable")
                continue
            what = "missing" if got is None else f"{got[0]} bytes instead of {size}"
            if rel == MANIFEST and got is None and self.injected(ino, v.tree_id, other_than=MANIFEST):
                # A launcher's background check found damage this driver injected and marked the
                # tree (renamed the manifest) for repair at the next start.
                excused = True
            elif rel in STRICT:
                excused = self.injected(ino, v.tree_id, rel, after=job.t_spawn)
            else:
                excused = self.injected(ino, v.tree_id, rel)
            if excused:
                self.counts["damage-seen-excused"] += 1
            else:
                self.violation(f"{job.desc}: the app saw {rel} {what} in {v.tree_id} ({phase})")

    def check_tool(self, job: Job) -> None:
        lines = job.stderr.splitlines()
        if job.killed and not job.stderr.endswith("\n"):
            lines = lines[:-1]
        foreign = [l for l in lines if not l.startswith(f"{NAME}")]
        if foreign:
            self.violation(f"{job.desc}: stderr lines that are not the launcher's: {foreign[:3]}")
        if "panicked" in job.stderr:
            self.violation(f"{job.desc}: panic: {job.stderr[:300]!r}")
        if job.hung:
            self.violation(f"{job.desc}: still running after {JOB_TIMEOUT}s")
        if job.killed:
            return
        if job.rc != 0:
            known = ""
            if job.kind == "gc" and re.search(r"cannot remove \S+: No such file or directory", job.stderr):
                known = f" [{KNOWN_GC_RACE}]"
            self.violation(f"{job.desc}: exit code {job.rc}: {job.stderr.strip()[:400]}{known}")
            return
        if job.kind == "update":
            m = re.search(r"installed (\S+);", job.stderr)
            if m:
                self.counts["updates"] += 1
            elif "is up to date" not in job.stderr:
                self.violation(f"{job.desc}: neither installed nor up to date: {job.stderr.strip()[:300]}")
                return
            # The feed does not change during a round and clean-up never removes the newest
            # version: after a successful update, the newest release is installed.
            newest = self.versions[self.released[-1]]
            if not (self.pkg / newest.tree_id / MANIFEST).is_file():
                known = f" [{KNOWN_LOST_UPDATE}]" if m is None else ""
                self.violation(
                    f"{job.desc}: succeeded ({job.stderr.strip()[:120]!r}) but the newest release "
                    f"{newest.version} is not installed{known}"
                )

    def check_tree(self, name: str, strict: bool) -> None:
        """A tree at rest: known, complete and exactly its payload, unless this driver damaged it
        (then it must still be complete or marked damaged); with `strict`, no damage may remain."""
        tree = self.pkg / name
        v = self.by_id.get(name)
        if v is None:
            self.violation(f"cache: unknown tree {name}")
            return
        try:
            ino = os.stat(tree).st_ino
        except FileNotFoundError:
            return
        damaged = self.injected(ino, name)
        if damaged and strict:
            with self.inj_lock:
                what = [(i.path, i.phase, round(i.when - self.started, 2)) for i in self.injections if i.ino == ino]
            marks = [n for n in os.listdir(tree / ".sea")] if (tree / ".sea").is_dir() else []
            self.violation(
                f"cache: {name} still holds damage injected by the stress run (never repaired): {what}; .sea: {marks}"
            )
            return
        if not (tree / MANIFEST).is_file():
            if not damaged:
                self.violation(f"cache: {name} has no {MANIFEST}: a partial tree under its final name")
            return
        if damaged:
            return
        found: dict[str, os.stat_result] = {}
        for root, dnames, fnames in os.walk(tree):
            for n in dnames + fnames:
                p = Path(root) / n
                found[str(p.relative_to(tree))] = os.lstat(p)
        for d in v.dirs:
            if d not in found or not stat.S_ISDIR(found[d].st_mode):
                self.violation(f"cache: {name}: directory {d} missing")
        for rel, size in v.files.items():
            st = found.get(rel)
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != size:
                self.violation(f"cache: {name}: {rel} missing or wrong size in an undamaged tree")
            elif rel in v.executables and not st.st_mode & 0o100:
                self.violation(f"cache: {name}: {rel} lost its executable bit")
        extra = set(found) - set(v.files) - v.dirs
        if UNFLUSHED in extra and not v.update:
            extra.discard(UNFLUSHED)
            try:
                mark = (tree / UNFLUSHED).read_text().strip()
            except OSError:
                mark = None  # flushed and removed since the walk
            if mark is not None and mark != BOOT_ID:
                self.violation(f"cache: {name}: unflushed mark of another boot ({mark!r}) in a tree in use")
        if extra:
            self.violation(f"cache: {name}: unexpected entries {sorted(extra)[:5]}")

    def check_cache(self, final: bool = False) -> None:
        """The cache, home and sandbox at rest (nothing runs)."""
        for name in self.list_pkg():
            m = SCRATCH.match(name)
            if m and m.group(2) == "tmp" and int(name.rsplit("-", 2)[1]) in self.killed_pids:
                self.cut_extractions.add(name)
            if m:
                if final:
                    self.violation(f"cache: leftover {name} after the final clean-up")
                else:
                    self.counts[f"leftover-{m.group(2)}"] += 1
                continue
            if TREE_ID.match(name):
                self.check_tree(name, strict=final)
                continue
            if name.endswith(".extract.lock") and TREE_ID.match(name[: -len(".extract.lock")]):
                continue
            if name.endswith(".lock") and TREE_ID.match(name[: -len(".lock")]):
                continue
            self.violation(f"cache: unexpected entry pkg/{self.platform}/{name}")
        if self.cache.exists():
            for name in os.listdir(self.cache):
                # feed/: the verified feed and trust statements kept for conditional requests.
                if name not in ("pkg", "downloads", "update.lock", "gc.stamp", "feed"):
                    self.violation(f"cache: unexpected entry {name}")
        if self.app_home.exists():
            for name in os.listdir(self.app_home):
                temp = re.match(r"^\.(update\.json|install-id|trust\.json)\.tmp-(\d+)$", name)
                if temp and int(temp.group(2)) in self.pid_jobs:
                    # An atomic write cut short: by SIGKILL, or by the launcher exiting with its app
                    # while its background update check was saving the update state. Litter, not
                    # a half-written state file; reported in the details.
                    self.home_temps.add(name)
                elif name not in ("restart", "update.json", "install-id", "health", "trust.json"):
                    who = self.pid_jobs.get(int(temp.group(2))) if temp else None
                    culprit = f" (left by {who.desc}, exit {who.rc}, kill after {who.kill_after})" if who else ""
                    self.violation(f"home: unexpected entry {name}{culprit}")
            restart = self.app_home / "restart"
            if restart.exists():
                for name in os.listdir(restart):
                    pid = int(name.split(".")[0]) if name.split(".")[0].isdigit() else -1
                    if pid not in self.killed_pids:
                        self.violation(f"home: restart file {name} outlived a launcher that was not killed")
        for name in os.listdir(self.home):
            if name not in (".cache", f".{NAME}"):
                self.violation(f"HOME: unexpected entry {name} (written outside the cache and home)")
        if (self.home / ".cache").exists():
            for name in os.listdir(self.home / ".cache"):
                if name != NAME:
                    self.violation(f"HOME/.cache: unexpected entry {name}")
        for d in (self.tmp, self.cwd):
            left = os.listdir(d)
            if left:
                self.violation(f"{d.name}: something was written there: {left[:5]}")

    def check_orphans(self) -> None:
        """No app of a killed launcher runs on (its parent-death signal)."""
        needle = str(self.pkg).encode()
        deadline = time.monotonic() + 5
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                st = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if needle in cmd and st.rsplit(")", 1)[1].split()[0] != "Z":
                # the app of a launcher that just exited may take a moment to go
                while time.monotonic() < deadline and Path(f"/proc/{entry}").exists():
                    time.sleep(0.01)
                if Path(f"/proc/{entry}").exists():
                    self.violation(f"an app outlived its launcher: pid {entry} {cmd[:120]!r}")

    # ---------------------------------------------------------------- rounds

    def one_round(self) -> None:
        self.round += 1
        rng = self.rng
        self.present_updates = [
            self.by_id[n].version
            for n in self.list_pkg()
            if n in self.by_id and self.by_id[n].update and (self.pkg / n / MANIFEST).is_file()
        ]
        jobs = [self.app_job() for _ in range(self.args.per_round)]
        if self.cold:
            # Trees are missing: the first launchers of the round extract them; kill many of them
            # part-way (another launcher waiting for the extraction lock then takes over).
            for job in jobs[:15]:
                job.delay = rng.uniform(0, 0.01)
                if rng.random() < 0.5:
                    job.kill_after = rng.uniform(0.002, 0.06)
        self.cold = False
        jobs.append(self.gc_job())
        if rng.random() < 0.5:
            jobs.append(self.gc_job())
        if rng.random() < 0.6:
            jobs.append(self.update_job())
        extra = []
        if self.args.canary and self.round % 5 == 0:
            extra.append(threading.Thread(target=self.canary, daemon=True))
        if rng.random() < self.args.mid_damage_rate:
            extra.append(threading.Thread(target=self.mid_round_damage, daemon=True))
        self.monitor_active.set()
        self.run_all(jobs, extra)
        self.monitor_active.clear()
        # First: processes a killed app left behind (its stat or helper) finish writing its report.
        self.check_orphans()
        self.tally(jobs)
        self.check_cache()
        for job in jobs:
            if job.report:
                for p in job.report.parent.glob(job.report.name + "*"):
                    p.unlink()
        # Faults between rounds.
        if rng.random() < self.args.wipe_rate:
            shutil.rmtree(self.cache, ignore_errors=True)
            self.counts["wipes"] += 1
            self.cold = True
        elif rng.random() < self.args.damage_rate:
            self.damage("between", executables=True)
        if self.round % self.args.release_every == 0:
            self.release_next()
        if rng.random() < self.args.cold_rate:
            # A clean-up while nothing runs removes every unused old tree: the next round starts
            # with cold starts racing to extract (and kills landing in extractions).
            gc = self.gc_job()
            gc.kill_after, gc.delay = None, 0
            self.run_all([gc])
            self.tally([gc])
            self.counts["cold-rounds"] += 1
            self.cold = True

    def tally(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.counts[job.kind] += 1
            if job.killed:
                self.counts["kills"] += 1
                self.counts[f"kills-{job.kind}"] += 1
                if job.kind == "app":
                    ran = job.report is not None and job.report.exists()
                    self.counts["kills-app-running" if ran else "kills-app-starting"] += 1
                if job.pid in self.extracting_pids:
                    self.counts["kills-extracting"] += 1
            if job.kind == "app":
                self.check_app(job)
            else:
                self.check_tool(job)

    def final(self) -> None:
        """Finish updates, let every version run long enough for its background check and again
        to repair, clean up, and check that nothing partial or damaged is left."""
        self.round += 1
        up = self.update_job()
        up.kill_after = None
        up.delay = 0
        self.run_all([up])
        self.tally([up])
        for mode in ("sleep", "quick"):
            jobs = [self.app_job(final=True, mode=mode, version=v) for v in BUNDLED]
            d = self.app_job(final=True, mode=mode)
            del d.env[f"{PREFIX}_AUTO_UPDATE"]
            jobs.append(d)
            for j in jobs:
                j.delay = 0
            self.run_all(jobs)
            self.tally(jobs)
        gc = self.gc_job()
        gc.kill_after = None
        gc.delay = 0
        self.run_all([gc])
        self.tally([gc])
        self.check_cache(final=True)
        downloads = self.cache / "downloads"
        if downloads.exists() and os.listdir(downloads):
            self.counts["leftover-downloads"] += len(os.listdir(downloads))
        for d in (Path("/tmp"), Path("/var/tmp")):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                p = d / n
                if NAME in n and not str(self.work).startswith(str(p)):
                    try:
                        if p.stat().st_mtime >= self.wall_start:
                            self.violation(f"written outside the sandbox: {p}")
                    except OSError:
                        pass

    def progress(self) -> None:
        c = self.counts
        log(
            f"{time.monotonic() - self.started:.0f}s: round {self.round}, {c['app']} launches, {c['kills']} kills, "
            f"{c['updates']} updates, {c['gc']} gc runs, {len(self.violations)} violations"
        )

    def run(self) -> int:
        self.wall_start = time.time()
        log(f"seed {self.args.seed}; work dir {self.work}; building the app versions and the feed...")
        self.setup()
        monitor = threading.Thread(target=self.monitor, name="monitor", daemon=True)
        monitor.start()
        t0 = time.monotonic()
        last = t0
        limit = f" or {self.args.launches} launches" if self.args.launches else ""
        log(f"set-up done in {t0 - self.started:.1f}s; rounds for {self.args.seconds:.0f}s{limit}")
        def more() -> bool:
            in_time = time.monotonic() - t0 < self.args.seconds
            return in_time and (not self.args.launches or self.counts["app"] < self.args.launches)

        while more():
            self.one_round()
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                self.progress()
        self.final()
        self.monitor_stop.set()
        monitor.join()
        c = self.counts
        assert self.server is not None
        stats = self.server.stats  # type: ignore[attr-defined]
        killed_temps = sum(1 for n in self.home_temps if self.pid_jobs[int(n.rsplit("-", 1)[1])].killed)
        log(
            "details: "
            f"kills: app {c['kills-app']} ({c['kills-app-starting']} before the app started, "
            f"{c['kills-app-running']} while it ran; {len(self.cut_extractions)} cut-short extractions left), "
            f"{c['kills-extracting']} of launchers seen extracting, "
            f"gc {c['kills-gc']}, update {c['kills-update']}; "
            f"app runs {c['app-runs']}; releases {c['releases']}; wipes {c['wipes']}; cold rounds {c['cold-rounds']}; "
            f"damage injected between rounds {c['damage-between']}, during rounds {c['damage-mid']}; "
            f"damage seen by apps (excused: injected) {c['damage-seen-excused']}; "
            f"leftovers seen between rounds: tmp {c['leftover-tmp']}, trash {c['leftover-trash']}; "
            f"feed requests {stats['requests']}, resumed downloads {stats['ranged']}; "
            f"downloads left at the end {c['leftover-downloads']}; temporary files of interrupted writers left "
            f"in the home {len(self.home_temps)} ({killed_temps} by killed launchers); "
            f"monitor scans {c['monitor-scans']}"
        )
        for what, n in self.failures.most_common():
            log(f"expected failure x{n}: {what}")
        for what, n in self.warnings.most_common(8):
            log(f"warning x{n}: {what}")
        if len(self.violations) > self.args.show:
            log(f"... {len(self.violations) - self.args.show} more violations not shown")
        kinds: Counter[str] = Counter()
        for v in self.violations:
            text = v.split(": ", 1)[1]
            text = re.sub(r"\d+(\.\d+)*(-[0-9a-f]{12})?", "N", text)
            label = re.search(r"\[(regression of [^\]]+)\]", text)
            kinds[label.group(1) if label else text[:110]] += 1
        for what, n in kinds.most_common():
            log(f"violations x{n}: {what}")
        log(
            f"{self.round} rounds, {c['app']} launches, {c['kills']} kills, {c['updates']} updates, "
            f"{c['gc']} gc runs, {len(self.violations)} invariant violations ({time.monotonic() - self.started:.0f}s)"
        )
        return 0 if not self.violations else 1

    def kill_live(self) -> None:
        """Kills and reaps every launcher still running (their apps follow them)."""
        with self.live_lock:
            procs = list(self.live.values())
        for proc in procs:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sea-pack", type=Path, required=True, help="the sea-pack binary (its sea-launcher beside it)")
    p.add_argument("--work", type=Path, required=True, help="an empty scratch directory (the caller removes it)")
    p.add_argument("--seconds", type=float, default=270, help="duration of the rounds (default 270)")
    p.add_argument("--launches", type=int, default=0, help="stop after this many app launches (0: no limit)")
    p.add_argument("--per-round", type=int, default=100, help="app launches per round (default 100)")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--kill-rate", type=float, default=0.1, help="share of app launches killed")
    p.add_argument("--max-sleep", type=float, default=0.8, help="longest run of an app that runs a while (s)")
    p.add_argument("--gc-kill-rate", type=float, default=0.3)
    p.add_argument("--update-kill-rate", type=float, default=0.4)
    p.add_argument("--wipe-rate", type=float, default=0.03, help="share of rounds followed by a cache wipe")
    p.add_argument("--damage-rate", type=float, default=0.2, help="share of rounds followed by tree damage")
    p.add_argument("--mid-damage-rate", type=float, default=0.15, help="share of rounds with damage during the round")
    p.add_argument("--cold-rate", type=float, default=0.35, help="share of rounds after which nothing is extracted")
    p.add_argument("--release-every", type=int, default=4, help="release a new version every N rounds")
    p.add_argument("--download-rate", type=float, default=8e6, help="artifact download rate, bytes/s")
    p.add_argument("--show", type=int, default=30, help="violations printed as they happen")
    p.add_argument(
        "--canary", action="store_true", help="also inject faults the checks are not told about (the run must fail)"
    )
    args = p.parse_args()
    stress = Stress(args)

    def on_signal(signo: int, _frame: object) -> None:
        stress.kill_live()
        log(f"interrupted by signal {signo}")
        os._exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return stress.run()
    finally:
        stress.kill_live()


if __name__ == "__main__":
    sys.exit(main())
