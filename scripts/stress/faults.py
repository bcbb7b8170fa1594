"""Injected faults: files of trees deleted or truncated, the canary."""

from __future__ import annotations

import os
import time

from common import BUNDLED, ENTRY, HELPER, MANIFEST, Injection


class Faults:
    """Damage to trees between and during rounds, and the canary's unannounced faults."""


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
