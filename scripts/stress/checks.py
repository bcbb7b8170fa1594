"""The invariant checks (listed in main.py's docstring)."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from common import (
    BOOT_ID,
    CHECKED,
    HELPER,
    JOB_TIMEOUT,
    KNOWN_GC_RACE,
    KNOWN_LOST_UPDATE,
    MANIFEST,
    NAME,
    PREFIX,
    SCRATCH,
    STRICT,
    TREE_ID,
    UNFLUSHED,
    UPDATE_MARK,
    Job,
    Version,
)


class Checks:
    """The invariants, checked by the app's own records, a cache monitor and after each round."""


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
        extra.discard(CHECKED)
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
