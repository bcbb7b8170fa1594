"""The jobs of a round: app launches, clean-ups and updates, each a launcher process."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from common import BUNDLED, JOB_TIMEOUT, PREFIX, Job, log


class Jobs:
    """Starting launchers, `--sea-gc` and `--sea-update` runs, killing them at random instants."""


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
