"""Shared by the stress modules: names, layout constants, the app script, the records."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
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
# The stamp of the tree's last deep check in the background (the launcher's care/background.rs).
CHECKED = ".sea/checked"
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
