"""The stress run's world: its state, the packed versions, the feed and its releases."""

from __future__ import annotations

import argparse
import http.server
import json
import random
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from common import (
    APP_SCRIPT,
    BUNDLED,
    ENTRY,
    HELPER,
    HELPER_SCRIPT,
    INDEX,
    MANIFEST,
    NAME,
    PREFIX,
    UPDATE_MARK,
    Injection,
    Job,
    Version,
)
from feed import FeedHandler, FeedServer


class World:
    """The run's state and its set-up: the sandbox, the packed versions, the signed feed."""

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
        # Format 2 ships no index section: the launcher writes the index it recorded while
        # extracting, whose size the manifest pins.
        files[INDEX] = manifest["index"]["size"]
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
