#!/usr/bin/env python3
"""Helpers for scripts/bench.sh: payload size, hyperfine medians, the final table and results.json.

    benchlib.py payload-size BIN STUB [INSPECT_JSON]   -> "<bytes> <source>"
    benchlib.py artifact-size BIN STUB [INSPECT_JSON]  -> "<bytes>" (the package without the stub)
    benchlib.py hyperfine-times RAW LABEL FILE...        append "LABEL_<name> t..." lines to RAW
    benchlib.py report RAW RESULTS_JSON                 table on stdout, JSON to RESULTS_JSON

RAW is a text file of "key value..." lines written by bench.sh; a key given several times
collects a list (e.g. one wall time per repetition).
"""

import json
import os
import statistics
import struct
import sys

TRAILER_LEN = 128
END_MAGIC = b"\x89SEA\r\n\x1a\n"


# ----------------------------------------------------------------------------- payload size


def _find_payload_size(j):
    """Looks for the payload size in `sea-pack inspect --json` output, whatever its exact shape:
    {"payload": {"size": N}}, {"manifest": {"payload": {"size": N}}}, {"payload_size": N},
    {"layout": {"payload": {"start": a, "end": b}}} ..."""
    if isinstance(j, dict):
        for key in ("payload_size", "payload_len", "payload_length", "payload_bytes"):
            if isinstance(j.get(key), int):
                return j[key]
        p = j.get("payload")
        if isinstance(p, int) and not isinstance(p, bool):
            return p
        if isinstance(p, dict):
            for key in ("size", "len", "length", "bytes", "compressed_size"):
                if isinstance(p.get(key), int):
                    return p[key]
            if isinstance(p.get("start"), int) and isinstance(p.get("end"), int):
                return p["end"] - p["start"]
            if isinstance(p.get("offset"), int) and isinstance(p.get("len"), int):
                return p["len"]
        for key in ("manifest", "layout", "sections", "package"):
            if key in j:
                found = _find_payload_size(j[key])
                if found is not None:
                    return found
    return None


def payload_size(binary, stub, inspect_json=None):
    if inspect_json and os.path.exists(inspect_json) and os.path.getsize(inspect_json) > 0:
        try:
            with open(inspect_json) as f:
                found = _find_payload_size(json.load(f))
            if found is not None:
                return found, "sea-pack inspect --json"
        except (ValueError, OSError):
            pass
    # The trailer (payload/src/trailer.rs): last 128 bytes, payload length at offset 16.
    with open(binary, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size >= TRAILER_LEN:
            f.seek(size - TRAILER_LEN)
            t = f.read(TRAILER_LEN)
            if t[0:8] == b"SEA-TRLR" and t[120:128] == END_MAGIC:
                return struct.unpack_from("<Q", t, 16)[0], "trailer (inspect --json unavailable)"
    return size - os.path.getsize(stub), "binary minus stub (inspect --json unavailable)"


# ----------------------------------------------------------------------------- hyperfine


def hyperfine_times(out, label, files):
    """Appends the per-run times (s) of every command in hyperfine JSON exports as
    "<label>_<command name>" lines (bench.sh names the commands with --command-name)."""
    with open(out, "a") as o:
        for path in files:
            with open(path) as f:
                results = json.load(f)["results"]
            for r in results:
                o.write(f"{label}_{r['command']} " + " ".join(f"{t:.9f}" for t in r["times"]) + "\n")


# ----------------------------------------------------------------------------- report


def load_raw(path):
    raw = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if not parts[0]:
                continue
            raw.setdefault(parts[0], []).append(parts[1] if len(parts) > 1 else "")
    return raw


class Raw:
    def __init__(self, raw):
        self.raw = raw

    def s(self, key, default=None):
        v = self.raw.get(key)
        return v[-1] if v else default

    def f(self, key):
        v = self.s(key)
        return float(v) if v not in (None, "") else None

    def floats(self, key):
        out = []
        for v in self.raw.get(key, []):
            out.extend(float(x) for x in v.split())
        return out


def mb(n):
    """bytes -> MiB (the targets' "MB" are read as MiB; /usr/bin/time reports KiB)."""
    return None if n is None else n / (1024 * 1024)


def fmt(v, unit, digits=2):
    if v is None:
        return "-"
    if unit == "MB":
        return f"{v:.{digits}f} MiB"
    if unit == "s":
        return f"{v:.{digits}f} s"
    if unit == "ms":
        return f"{v:.{digits}f} ms"
    if unit == "x":
        return f"{v:.3f}x"
    return str(v)


def median(xs):
    return statistics.median(xs) if xs else None


def report(raw_path, json_path):
    r = Raw(load_raw(raw_path))
    rows, results = [], {}

    def row(key, label, ours, ref, ratio, target, verdict, note="", values=None):
        """One table row; `values` are the raw numbers behind it, for results.json."""
        rows.append((label, ours, ref, ratio, target, verdict, note))
        results[key] = {k: v for k, v in (("label", label), ("ours", ours), ("reference", ref),
                                           ("ratio", ratio), ("target", target), ("result", verdict),
                                           ("note", note)) if v not in (None, "")}
        results[key]["values"] = values or {}

    def check(value, limit):
        if value is None:
            return "SKIP"
        return "PASS" if value <= limit else "FAIL"

    mode = r.s("mode", "?")
    results["_meta"] = {
        "mode": mode, "date": r.s("date"), "host": r.s("host"), "cpus": r.s("cpus"),
        "git": r.s("git"), "seed": r.s("seed"), "size_mb": r.s("size_mb"),
        "unpack_reps": r.s("unpack_reps"), "hyperfine": r.s("hyperfine_params"),
        "notes": r.raw.get("note", []),
        "loadavg_before_unpack": r.s("loadavg_unpack"), "loadavg_before_warm": r.s("loadavg_warm"),
    }

    # --- the tree
    tree = json.loads(r.s("tree_stats", "{}") or "{}")
    det = r.s("tree_deterministic", "SKIP")
    row("tree", "generated tree (files/dirs/links, size)",
        f"{tree.get('files', '?')} files, {tree.get('dirs', '?')} dirs, {tree.get('symlinks', '?')} links, "
        f"{tree.get('executables', '?')} exec",
        fmt(mb(tree.get("bytes")), "MB"), None, "same seed -> same sha256", det,
        f"sha256 {tree.get('sha256', '?')[:16]}; {r.s('tree_deterministic_how', '')}")
    results["tree"]["values"] = tree

    # --- launcher size
    stripped = r.f("launcher_stripped_bytes")
    row("launcher_size", "sea-launcher stripped size", fmt(mb(stripped), "MB"),
        f"unstripped {fmt(mb(r.f('launcher_bytes')), 'MB')}", None, "<= 3 MB",
        check(stripped, 3 * 1024 * 1024), values={"stripped_bytes": stripped, "bytes": r.f("launcher_bytes")})

    # --- pack time
    pack_s = r.f("pack_seconds")
    ref_s = r.f("zstd19mt_seconds")
    row("pack_time", f"pack time: sea-pack build ({r.s('pack_compression', 'default zstd:19')})",
        fmt(pack_s, "s", 1), f"tar|zstd -19 -T0: {fmt(ref_s, 's', 1)}",
        fmt(pack_s / ref_s, "x") if pack_s and ref_s else None, "(info)", "INFO",
        f"peak RSS {fmt(mb(r.f('pack_rss_kb') * 1024) if r.f('pack_rss_kb') else None, 'MB', 0)}; "
        f"tar|zstd -19 {fmt(r.f('zstd19_seconds'), 's', 1)}, tar|gzip -9 {fmt(r.f('gzip9_seconds'), 's', 1)}",
        values={"seconds": pack_s, "rss_kib": r.f("pack_rss_kb"), "tar_zstd19_T0_seconds": ref_s,
                "tar_zstd19_seconds": r.f("zstd19_seconds"), "tar_gzip9_seconds": r.f("gzip9_seconds")})

    # --- sizes
    payload = r.f("payload_bytes")
    z19, z19mt, gz9, tar_raw = r.f("tar_zstd19_bytes"), r.f("tar_zstd19mt_bytes"), r.f("tar_gzip9_bytes"), r.f("tar_bytes")
    ratio = payload / z19 if payload and z19 else None
    row("payload_vs_zstd19", "payload size vs tar|zstd -19", fmt(mb(payload), "MB"), fmt(mb(z19), "MB"),
        fmt(ratio, "x"), "<= 1.02x", check(ratio, 1.02), f"payload size from {r.s('payload_source', '?')}",
        values={"payload_bytes": payload, "reference_bytes": z19, "ratio": ratio})
    for key, label, ref in (("payload_vs_zstd19mt", "payload size vs tar|zstd -19 -T0", z19mt),
                            ("payload_vs_gzip9", "payload size vs tar|gzip -9", gz9)):
        q = payload / ref if payload and ref else None
        row(key, label, fmt(mb(payload), "MB"), fmt(mb(ref), "MB"), fmt(q, "x"), "(info)", "INFO",
            values={"payload_bytes": payload, "reference_bytes": ref, "ratio": q})
    overhead = r.f("binary_minus_stub_bytes")
    q = overhead / z19 if overhead and z19 else None
    row("package_vs_zstd19", "whole packed file vs stub + tar|zstd -19 (binary - stub)", fmt(mb(overhead), "MB"),
        fmt(mb(z19), "MB"), fmt(q, "x"), "<= 1.02x", check(q, 1.02), "payload + manifest + signature + trailer",
        values={"bytes": overhead, "reference_bytes": z19, "ratio": q})
    art = r.f("artifact_bytes")
    q = art / z19 if art and z19 else None
    row("artifact_vs_zstd19", "update artifact vs tar|zstd -19", fmt(mb(art), "MB"), fmt(mb(z19), "MB"),
        fmt(q, "x"), "<= 1.02x", check(q, 1.02), "the package without the stub",
        values={"bytes": art, "reference_bytes": z19, "ratio": q})
    sz19, sbin, sstub, sart = (r.f("small_zstd19_bytes"), r.f("small_binary_bytes"), r.f("small_stub_bytes"),
                               r.f("small_artifact_bytes"))
    small_tree = json.loads(r.s("small_tree", "{}") or "{}")
    q = (sbin - sstub) / sz19 if sbin and sstub and sz19 else None
    row("small_package_vs_zstd19", f"small files ({small_tree.get('files', '?')}): whole packed file vs stub + tar|zstd -19",
        fmt(mb(sbin - sstub) if sbin and sstub else None, "MB"), fmt(mb(sz19), "MB"), fmt(q, "x"), "<= 1.02x",
        check(q, 1.02), f"binary {fmt(mb(sbin), 'MB')}, stub {fmt(mb(sstub), 'MB')}, signed",
        values={"binary_bytes": sbin, "stub_bytes": sstub, "reference_bytes": sz19, "ratio": q, "tree": small_tree})
    q = sart / sz19 if sart and sz19 else None
    row("small_artifact_vs_zstd19", "small files: update artifact (sea-pack release) vs tar|zstd -19", fmt(mb(sart), "MB"),
        fmt(mb(sz19), "MB"), fmt(q, "x"), "<= 1.02x", check(q, 1.02), "the .sea file release wrote",
        values={"bytes": sart, "reference_bytes": sz19, "ratio": q})
    results["sizes"] = {"payload": payload, "binary_minus_stub": overhead, "tar": tar_raw, "tar_zstd19": z19,
                        "tar_zstd19_T0": z19mt, "tar_gzip9": gz9, "binary": r.f("binary_bytes"),
                        "stub": r.f("launcher_bytes")}

    # --- unpack wall time and RSS
    tar_t = r.floats("unpack_tar_s")
    tar_m = median(tar_t)
    tar_rss = r.floats("unpack_tar_rss_kb")
    for key, label in (("extract", "sea-pack extract"), ("cold", "cold start (packed binary)")):
        ts = r.floats(f"unpack_{key}_s")
        skip = r.s(f"unpack_{key}_skip")
        m = median(ts)
        q = m / tar_m if m and tar_m else None
        limit = 0.55 if key == "cold" else 1.0  # issue 11: below one thread creating the files
        row(f"unpack_time_{key}", f"unpack wall time: {label} (median of {len(ts)})" if ts else f"unpack wall time: {label}",
            fmt(m, "s", 3), f"tar -I zstd -xf: {fmt(tar_m, 's', 3)}",
            fmt(q, "x"), f"<= {limit}x", "SKIP" if skip else check(q, limit),
            skip or (f"runs (s): {' '.join(f'{t:.3f}' for t in ts)}; tar: {' '.join(f'{t:.3f}' for t in tar_t)}; "
                     f"min/min {fmt(min(ts) / min(tar_t) if ts and tar_t else None, 'x')}"),
            values={"median_s": m, "tar_median_s": tar_m, "ratio": q, "samples_s": ts, "tar_samples_s": tar_t})
        rss = r.floats(f"unpack_{key}_rss_kb")
        peak = max(rss) * 1024 if rss else None
        row(f"unpack_rss_{key}", f"unpack peak RSS: {label} (max of runs)" if rss else f"unpack peak RSS: {label}",
            fmt(mb(peak), "MB", 1), f"tar -I zstd -xf: {fmt(mb(max(tar_rss) * 1024) if tar_rss else None, 'MB', 1)}",
            None, "<= 32 MB", "SKIP" if skip else check(peak, 32 * 1024 * 1024), skip or "",
            values={"peak_kib": max(rss) if rss else None, "tar_peak_kib": max(tar_rss) if tar_rss else None})
        rt = r.s(f"roundtrip_{key}")
        if rt:
            row(f"roundtrip_{key}", f"round trip: {label} output == tree", rt, None, None, "identical",
                "PASS" if rt == "identical" else "FAIL", "paths, types, exec bits, sizes, sha256, link targets")
    rt = r.s("roundtrip_tar")
    if rt:
        row("roundtrip_tar", "round trip: tar -I zstd -xf output == tree (sanity)", rt, None, None, "identical",
            "PASS" if rt == "identical" else "FAIL")

    # --- warm start
    for n in r.raw.get("warm_sizes", [""])[-1].split():
        skip = r.s(f"warm_{n}_skip")
        packed = r.floats(f"warm_{n}_packed")
        direct = r.floats(f"warm_{n}_direct")
        pm, dm = median(packed), median(direct)
        diff = (pm - dm) * 1000 if pm is not None and dm is not None else None
        row(f"warm_{n}", f"warm start overhead, {n}-file payload (median)",
            f"+{diff:.3f} ms" if diff is not None else "-",
            f"packed {fmt(pm * 1000 if pm else None, 'ms', 3)} vs direct {fmt(dm * 1000 if dm else None, 'ms', 3)}",
            None, "<= 1 ms", "SKIP" if skip else check(diff, 1.0),
            skip or f"{len(packed)}+{len(direct)} runs; p90 packed {fmt(_pct(packed, 90), 'ms', 3)}, direct {fmt(_pct(direct, 90), 'ms', 3)}",
            values={"added_ms": diff, "packed_median_ms": pm * 1000 if pm else None,
                    "direct_median_ms": dm * 1000 if dm else None, "runs": len(packed)})
        rss = r.floats(f"warm_{n}_rss_kb")
        peak = max(rss) * 1024 if rss else None
        row(f"warm_rss_{n}", f"launcher peak RSS, warm start, {n} files (max)", fmt(mb(peak), "MB", 1),
            f"entry alone: {fmt(mb(max(r.floats(f'warm_{n}_direct_rss_kb')) * 1024) if r.floats(f'warm_{n}_direct_rss_kb') else None, 'MB', 1)}",
            None, "<= 8 MB", "SKIP" if skip else check(peak, 8 * 1024 * 1024), skip or "",
            values={"peak_kib": max(rss) if rss else None})

    # --- print
    head = ("measurement", "sea", "reference", "ratio", "target", "result")
    table = [head] + [tuple(x if x is not None else "" for x in rw[:6]) for rw in rows]
    widths = [max(len(str(t[i])) for t in table) for i in range(6)]
    line = "+".join("-" * (w + 2) for w in widths)
    print(f"sea benchmark ({mode}) - {r.s('date', '')} - {r.s('host', '')}, {r.s('cpus', '?')} CPUs, git {r.s('git', '?')}")
    print(line)
    for i, t in enumerate(table):
        print("|".join(f" {str(c):<{widths[k]}} " for k, c in enumerate(t)))
        if i == 0:
            print(line)
    print(line)
    for rw in rows:
        if rw[6]:
            print(f"  {rw[0]}: {rw[6]}")
    for phase in ("unpack", "warm"):
        if r.s(f"loadavg_{phase}"):
            print(f"  load average (1/5/15 min) before the {phase} measurements: {r.s(f'loadavg_{phase}')}")
    for n in r.raw.get("note", []):
        print(f"  note: {n}")
    print("  sizes in MiB (2^20 bytes); the targets' MB are read as MiB")
    verdicts = [rw[5] for rw in rows]
    print(f"summary: {verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, {verdicts.count('SKIP')} SKIP")
    results["_summary"] = {v: verdicts.count(v) for v in ("PASS", "FAIL", "SKIP", "INFO")}
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    return 1 if "FAIL" in verdicts else 0


def _pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, (len(s) * p) // 100)] * 1000


def artifact_size(binary, stub, inspect_json=None):
    """The package without the stub: `layout.stub.length` from `inspect --json`, else the stub file's size."""
    stub_len = None
    if inspect_json:
        try:
            with open(inspect_json) as f:
                stub_len = json.load(f)["layout"]["stub"]["length"]
        except (OSError, ValueError, KeyError, TypeError):
            stub_len = None
    if stub_len is None:
        stub_len = os.path.getsize(stub)
    return os.path.getsize(binary) - stub_len


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "artifact-size" and len(sys.argv) in (4, 5):
        print(artifact_size(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None))
    elif cmd == "payload-size" and len(sys.argv) in (4, 5):
        size, source = payload_size(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None)
        print(f"{size} {source}")
    elif cmd == "hyperfine-times" and len(sys.argv) >= 5:
        hyperfine_times(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "report" and len(sys.argv) == 4:
        sys.exit(report(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
