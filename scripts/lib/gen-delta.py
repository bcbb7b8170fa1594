#!/usr/bin/env python3
"""Deterministic release pairs (v1, v2) for the delta section of scripts/bench.sh.

    gen-delta.py eight OUT [--seed 1]     eight incompressible 1 MiB files; v2 replaces one
    gen-delta.py nm OUT [--seed 1]        ~10,000 JS-like files in 500 packages; v2 changes one package
    gen-delta.py native OUT [--seed 1]    a 40 MiB native-like module + 600 JS files; v2 is a rebuild:
                                          addresses shift in a third of the module, code inserted,
                                          10 % of the JS files edited

Writes OUT/v1 and OUT/v2, each with bin/noop (the entry). Same arguments -> same bytes.
"""

import argparse
import os
import random

WORDS = None


def vocab(_rng):
    # From its own generator: drawing it from the caller's would shift every later file of the
    # first tree generated but not of the second.
    global WORDS
    if WORDS is None:
        letters = "abcdefghijklmnopqrstuvwxyz"
        own = random.Random(12345)
        WORDS = ["".join(own.choice(letters) for _ in range(own.randint(3, 10))) for _ in range(4000)]
    return WORDS


def js_text(rng, size):
    words = vocab(rng)
    out = []
    n = 0
    while n < size:
        w = words[min(int(rng.paretovariate(1.1)) - 1, len(words) - 1)]
        v = words[rng.randrange(len(words))]
        line = f"  const {w}_{v} = require('./{v}').{w}({rng.randrange(1000)});\n"
        out.append(line)
        n += len(line)
    return "".join(out)[:size]


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def noop(root):
    write(os.path.join(root, "bin/noop"), "#!/bin/sh\nexit 0\n", 0o755)


def eight(out, seed):
    rng = random.Random(seed)
    blobs = [rng.randbytes(1 << 20) for _ in range(8)]
    for v in ("v1", "v2"):
        root = os.path.join(out, v)
        noop(root)
        for i, b in enumerate(blobs):
            if v == "v2" and i == 3:
                b = random.Random(seed + 1000).randbytes(1 << 20)
            write(os.path.join(root, f"lib/blob{i}.bin"), b)


def js_tree(rng, root, packages, files, changed=lambda p, f: False, rng2=None):
    for p in range(packages):
        for f in range(files):
            size = rng.randint(1500, 7000)
            text = js_text(rng, size)
            if changed(p, f):
                text = text[: size // 2] + f"\n// patched {p}.{f}\n" + js_text(rng2, 300) + text[size // 2 :]
            write(os.path.join(root, f"node_modules/pkg{p:03d}/lib/f{f:02d}.js"), text)
        write(os.path.join(root, f"node_modules/pkg{p:03d}/package.json"), f'{{"name":"pkg{p:03d}","version":"1.0.{p}"}}\n')


def nm(out, seed):
    for v in ("v1", "v2"):
        root = os.path.join(out, v)
        noop(root)
        js_tree(random.Random(seed), root, 500, 19, lambda p, f, v=v: v == "v2" and p == 123, random.Random(seed + 7))


def native_module(rng, size):
    # Code-like: 4-byte words, a third of them small "opcodes" from a skewed set, the rest
    # addresses near a few bases; compresses about 2-3x like real machine code.
    ops = [rng.randrange(1 << 16) for _ in range(300)]
    bases = [rng.randrange(1 << 32) & 0xFFF00000 for _ in range(8)]
    words = bytearray()
    while len(words) < size:
        if rng.random() < 0.6:
            w = ops[min(int(rng.paretovariate(1.2)) - 1, len(ops) - 1)]
        else:
            w = (bases[rng.randrange(8)] + rng.randrange(1 << 20)) & 0xFFFFFFFF
        words += w.to_bytes(4, "little")
    return bytes(words[:size])


def rebuild(rng, data):
    # A new build: in a third of 64 KiB regions every address-like word moves by a constant,
    # and ten 4 KiB blocks of new code are inserted (shifting what follows).
    b = bytearray(data)
    chunk = 64 * 1024
    for start in range(0, len(b), chunk):
        if rng.random() < 0.33:
            delta = rng.randrange(1, 4096) * 16
            for i in range(start, min(start + chunk, len(b)) - 3, 4):
                w = int.from_bytes(b[i : i + 4], "little")
                if w >= 1 << 20:
                    b[i : i + 4] = ((w + delta) & 0xFFFFFFFF).to_bytes(4, "little")
    for _ in range(10):
        at = rng.randrange(len(b)) & ~3
        b[at:at] = native_module(rng, 4096)
    return bytes(b)


def native(out, seed):
    rng = random.Random(seed)
    module = native_module(rng, 40 << 20)
    for v in ("v1", "v2"):
        root = os.path.join(out, v)
        noop(root)
        js_tree(random.Random(seed), root, 30, 20, lambda p, f, v=v: v == "v2" and (p * 20 + f) % 10 == 0, random.Random(seed + 7))
        data = module if v == "v1" else rebuild(random.Random(seed + 1), module)
        write(os.path.join(root, "node_modules/addon/build/Release/addon.node"), data, 0o755)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["eight", "nm", "native"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    {"eight": eight, "nm": nm, "native": native}[a.kind](a.out, a.seed)


if __name__ == "__main__":
    main()
