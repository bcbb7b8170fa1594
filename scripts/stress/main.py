#!/usr/bin/env python3
"""sea stress run: many launchers, clean-ups, updates and injected faults at once, with invariant
checks after every round. Run it through scripts/stress.sh, which builds the binaries.

The modules beside this one, by job: common.py (names, the app script, the records), feed.py
(the loopback feed server), world.py (state and set-up: packing, releasing), jobs.py (launchers,
`--sea-gc`, `--sea-update`, kills), faults.py (damage to trees, the canary), checks.py (the
invariants below); this one runs the rounds and reports.

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
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from common import BUNDLED, MANIFEST, NAME, PREFIX, Job, log
from checks import Checks
from faults import Faults
from jobs import Jobs
from world import World


class Stress(World, Jobs, Faults, Checks):
    """One stress run: rounds of jobs, the final check, the report."""


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
