#!/usr/bin/env python3
"""Deterministic test trees for scripts/bench.sh.

    gen-tree.py tree OUT [--size-mb 200] [--seed 1]   a node_modules-like app tree
    gen-tree.py flat OUT --files N [--seed 1]         N small files (warm-start payloads)
    gen-tree.py bigtree OUT [--scale 100] [--seed 1]  ~250 files, a few of them large (a bundled runtime)
    gen-tree.py hash DIR [--exclude-prefix P]...      digest of a tree (JSON on stdout)

Same arguments -> byte-identical tree (contents, modes, symlinks), on any machine: only Python's
Mersenne Twister (random()/getrandbits(), stable across CPython 3 releases) and SHAKE-256 are
used, no float maths from libm, no hash(), no dependence on directory order, umask or clock.

What `tree` makes, and why it looks like this: the benchmark compares a packer against solid
`tar | zstd`, so the tree must compress like a real node_modules, not like random text:
  * ~65 % packages: package.json, README.md, LICENSE (verbatim MIT, as in real life), CHANGELOG,
    lib/*.js built from code templates over a Zipf-distributed vocabulary shared by all packages,
    types/*.d.ts, minified dist/*.min.js, *.js.map source maps that embed their sources; some
    packages are nested (node_modules/a/node_modules/b) and ~20 % of nested ones are exact copies
    of a package that already exists elsewhere (npm's duplicated versions);
  * a few large compressible files: webpack-like bundles and big JSON data tables;
  * ~3 % incompressible blobs (prebuilt .node addons, .wasm, images) and ~5 % native-code-like
    executables that compress about 2-3x;
  * bin/*.js CLIs (0755) with node_modules/.bin/* relative symlinks, and bin/noop
    (`#!/bin/sh` / `exit 0`, the trivial entry the benchmark runs).
What `bigtree` makes: an app that ships its own runtime, where a few large files hold most of the
bytes (the case where one decoding thread is the bottleneck): runtime/bin/node, a 120 MB
native-code-like executable (compresses ~2.5-3x, like a real node binary), a 40 MB native addon, a
30 MB ICU-like data file (native-like), a 20 MB JS bundle, a 12 MB JSON table, and ~240 small
files (a few packages of JS, bin/noop). `--scale P` scales every size to P percent (quick runs).
Timestamps are left alone (the packer and tar --mtime=@0 normalise them).
"""

import argparse
import hashlib
import json
import os
import random
import stat
import sys

# ----------------------------------------------------------------------------- helpers


def sub_rng(seed, *key):
    """An independent, reproducible generator for one part of the tree."""
    digest = hashlib.sha256(repr((seed,) + key).encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def random_bytes(rng, n):
    """n incompressible bytes (SHAKE-256 keyed by the generator: fast and stable)."""
    return hashlib.shake_256(rng.getrandbits(128).to_bytes(16, "big")).digest(n)


def cum(weights):
    out, total = [], 0
    for w in weights:
        total += w
        out.append(total)
    return out


class Writer:
    """Writes files under a root, with explicit modes, and keeps counts."""

    def __init__(self, root):
        self.root = root
        self.bytes = 0
        self.files = 0
        self.links = 0
        self.made_dirs = set()

    def _dir(self, rel):
        d = os.path.dirname(rel)
        if d and d not in self.made_dirs:
            os.makedirs(os.path.join(self.root, d), mode=0o755, exist_ok=True)
            parts = d.split("/")
            for i in range(1, len(parts) + 1):
                self.made_dirs.add("/".join(parts[:i]))

    def file(self, rel, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        self._dir(rel)
        path = os.path.join(self.root, rel)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        self.bytes += len(data)
        self.files += 1

    def symlink(self, rel, target):
        self._dir(rel)
        os.symlink(target, os.path.join(self.root, rel))
        self.links += 1

    def fix_dir_modes(self):
        for d in self.made_dirs:
            os.chmod(os.path.join(self.root, d), 0o755)


# ----------------------------------------------------------------------------- vocabulary

JS_WORDS = """options callback value result error length prototype require exports module
config context data index key keys name node path source target type args buffer cache
chunk count current default element entry event file handler input item items list map
match message method next object offset opts output params parent parse position props
push queue read record ref request response root rule schema scope state stream string
token tokens tree update url version visit walk write emit listener resolve reject
promise then apply call bind create define descriptor property get set has delete
assign keysOf toString valueOf hasOwnProperty isArray forEach filter reduce slice
concat join split replace indexOf charCodeAt fromCharCode test exec JSON stringify""".split()

ENGLISH = """the of and to a in is it you that he was for on are with as his they be at one
have this from or had by word but what some we can out other were all there when up use
your how said an each she which do their time if will way about many then them write would
like so these her long make thing see him two has look more day could go come did number
sound no most people my over know water than call first who may down side been now find
any new work part take get place made live where after back little only round man year
came show every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too same tell does
set three want air well also play small end put home read hand port large spell add even
land here must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father module option
value default support function return object string array configuration install usage
example license contributing test build release version api parser plugin stream""".split()

TYPES = ["string", "number", "boolean", "unknown", "any", "void", "Buffer", "Options",
         "Promise<void>", "string[]", "Record<string, unknown>", "Error", "Node", "Token"]

SYLLABLES = ["ar", "be", "co", "de", "el", "fa", "gi", "ho", "in", "ju", "ka", "lo", "mi",
             "no", "op", "pu", "qu", "re", "si", "to", "ul", "ve", "wa", "xe", "yo", "ze",
             "st", "tr", "ch", "sh", "th", "pr", "gl", "fl", "bl", "cr"]

MIT = """MIT License

Copyright (c) {year} {author}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


TS_PRELUDE = """"use strict";
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
"""


class Vocab:
    """Identifiers shared by the whole tree, drawn with Zipf-like frequencies."""

    def __init__(self, seed):
        rng = sub_rng(seed, "vocab")
        words = list(JS_WORDS)
        seen = set(words)
        while len(words) < 2500:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if rng.random() < 0.3:
                w += rng.choice(SYLLABLES).capitalize() + rng.choice(SYLLABLES)
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.words = words
        # weight of rank r ~ 1/r, as integers (no libm)
        self.cum = cum([100000 // (r + 1) + 1 for r in range(len(words))])
        self.english_cum = cum([1000 // (r + 1) + 1 for r in range(len(ENGLISH))])
        # Statements that recur verbatim across packages (real code is full of them).
        self.common, self.common_cum = [], None
        t = Text(rng, self, self.words[:300])
        while len(self.common) < 400:
            out = []
            t.js_function(out, "  ")
            self.common.extend(x for x in out[1:-1] if not x.lstrip().startswith("/**"))
        self.common = self.common[:400]
        self.common_cum = cum([4000 // (r + 1) + 1 for r in range(len(self.common))])


class Text:
    """Generates JS-like, d.ts, markdown and JSON text for one file from its own generator."""

    def __init__(self, rng, vocab, local):
        self.rng = rng
        self.vocab = vocab
        self.local = local  # package-specific identifiers, used often
        self._buf = []
        self.history = []

    def ident(self):
        rng = self.rng
        if rng.random() < 0.45:
            return rng.choice(self.local)
        if not self._buf:
            self._buf = rng.choices(self.vocab.words, cum_weights=self.vocab.cum, k=512)
        return self._buf.pop()

    def prose(self, n):
        words = self.rng.choices(ENGLISH, cum_weights=self.vocab.english_cum, k=n)
        return " ".join(words)

    def js_function(self, out, indent=""):
        r, i = self.rng, self.ident
        a, b, c = i(), i(), i()
        if r.random() < 0.5:
            out.append(f"{indent}/**\n{indent} * {self.prose(r.randint(4, 14))}\n"
                       f"{indent} * @param {{{r.choice(TYPES)}}} {b} {self.prose(r.randint(2, 6))}\n"
                       f"{indent} * @returns {{{r.choice(TYPES)}}}\n{indent} */")
        out.append(f"{indent}function {a}({b}, {c}) {{")
        body = indent + "  "
        for _ in range(r.randint(2, 12)):
            k = r.randrange(11)
            if self.vocab.common_cum and r.random() < 0.45:
                out.append(indent + r.choices(self.vocab.common, cum_weights=self.vocab.common_cum)[0])
            elif self.history and r.random() < 0.3:
                out.append(r.choice(self.history))
            elif k == 0:
                out.append(f"{body}if ({b} === undefined || {b} === null) {{\n{body}  return {i()};\n{body}}}")
            elif k == 1:
                out.append(f"{body}const {i()} = {b}.{i()}({c}, {r.randrange(64)});")
            elif k == 2:
                out.append(f"{body}for (let i = 0; i < {b}.length; i++) {{\n{body}  {c}.push({b}[i].{i()});\n{body}}}")
            elif k == 3:
                out.append(f"{body}if (typeof {b} !== '{r.choice(('string', 'object', 'function', 'number'))}') {{\n"
                           f"{body}  throw new TypeError('{self.prose(r.randint(3, 7))}');\n{body}}}")
            elif k == 4:
                out.append(f"{body}// {self.prose(r.randint(3, 12))}")
            elif k == 5:
                out.append(f"{body}{c}.{i()} = {b}.{i()} || {i()};")
            elif k == 6:
                out.append(f"{body}var {i()} = Object.assign({{}}, {b}, {{ {i()}: {c}, {i()}: {r.randrange(1000)} }});")
            elif k == 7:
                out.append(f"{body}return {i()}.call(this, {b}, {c});")
            elif k == 8:
                out.append(f"{body}{i()}.{i()}('{i()}', function ({i()}) {{\n{body}  {c}.{i()}({b});\n{body}}});")
            elif k == 9:
                out.append(f"{body}switch ({b}.{i()}) {{\n{body}  case '{i()}':\n{body}    return {i()};\n"
                           f"{body}  default:\n{body}    break;\n{body}}}")
            else:
                out.append(f"{body}{b} = {b}.{i()}(/{i()}[\\s\\S]*?{i()}/g, '{i()}');")
        out.append(f"{indent}  return {c};\n{indent}}}\n")
        if len(self.history) < 200:
            self.history.append(out[-2])

    def js_module(self, target):
        r, i = self.rng, self.ident
        out = ["'use strict';\n"]
        if r.random() < 0.4:  # TypeScript output: the same helpers in thousands of files
            out = [TS_PRELUDE]
        for _ in range(r.randint(1, 6)):
            out.append(f"const {i()} = require('{r.choice(self.local)}');")
        out.append("")
        size = 0
        while size < target:
            n = len(out)
            if r.random() < 0.15:
                out.append(f"class {i().capitalize()} extends {r.choice(('EventEmitter', 'Error', 'Base', i().capitalize()))} {{")
                out.append(f"  constructor({i()}) {{\n    super();\n    this.{i()} = {i()};\n  }}\n")
                for _ in range(r.randint(1, 4)):
                    self.js_function(out, "  ")
                out.append("}\n")
            else:
                self.js_function(out)
            size += sum(len(x) + 1 for x in out[n:])
        names = [i() for _ in range(r.randint(1, 8))]
        out.append("module.exports = {\n" + "".join(f"  {x},\n" for x in names) + "};\n")
        return "\n".join(out)

    def minified(self, target):
        r = self.rng
        short = [chr(97 + k) for k in range(26)] + [chr(97 + k) + chr(97 + m) for k in range(8) for m in range(26)]
        out, size = ['!function(e,t){"use strict";'], 0
        while size < target:
            a, b, c = r.choice(short), r.choice(short), r.choice(short)
            k = r.randrange(6)
            if k == 0:
                s = f"function {a}({b},{c}){{if(null=={b})return {c};for(var {a}=0;{a}<{b}.length;{a}++){c}.push({b}[{a}].{self.ident()});return {c}}}"
            elif k == 1:
                s = f"var {a}={b}.{self.ident()}({c},{r.randrange(99)}),{b}=!0;"
            elif k == 2:
                s = f'{a}.prototype.{self.ident()}=function({b}){{return this.{self.ident()}({b},"{self.ident()}")}};'
            elif k == 3:
                s = f'if("string"!=typeof {a})throw new TypeError("{self.prose(r.randint(3, 6))}");'
            elif k == 4:
                s = f"{a}.{self.ident()}={b}&&{b}.{self.ident()}||{c};"
            else:
                s = f"return {a}?{b}.{self.ident()}({c}):void 0}}"
            out.append(s)
            size += len(s)
        out.append("}(this);\n")
        return "".join(out)

    def dts(self, target):
        r, i = self.rng, self.ident
        out, size = [], 0
        while size < target:
            if r.random() < 0.4:
                s = (f"export interface {i().capitalize()} {{\n"
                     + "".join(f"  {i()}{'?' if r.random() < 0.4 else ''}: {r.choice(TYPES)};\n" for _ in range(r.randint(2, 9)))
                     + "}\n")
            else:
                s = f"export declare function {i()}({i()}: {r.choice(TYPES)}, {i()}?: {r.choice(TYPES)}): {r.choice(TYPES)};\n"
            out.append(s)
            size += len(s)
        return "".join(out)

    def readme(self, name, target):
        r = self.rng
        out = [f"# {name}\n", f"[![npm](https://img.shields.io/npm/v/{name}.svg)](https://www.npmjs.com/package/{name})\n",
               self.prose(r.randint(20, 60)) + ".\n", "## Install\n", f"```sh\nnpm install {name}\n```\n"]
        size = sum(len(x) for x in out)
        while size < target:
            k = r.randrange(4)
            if k == 0:
                s = f"## {self.prose(r.randint(1, 4)).capitalize()}\n"
            elif k == 1:
                code = []
                self.js_function(code)
                s = "```js\n" + "\n".join(code) + "```\n"
            elif k == 2:
                s = "".join(f"- `{self.ident()}` {self.prose(r.randint(4, 14))}\n" for _ in range(r.randint(2, 8)))
            else:
                s = self.prose(r.randint(30, 120)).capitalize() + ".\n"
            out.append(s)
            size += len(s) + 1
        return "\n".join(out)

    def source_map(self, sources, contents):
        r = self.rng
        segs = ["AAAA", "AACA", "CAAC", "SAASA", "IAAI", "EAAE", "GAAG", "OAAO", "KAAK", "MAAM", "QAAQ", "YAAY", "gBAAgB", "kBAAkB"]
        seg_cum = cum([40, 30, 25, 20, 18, 15, 12, 10, 8, 6, 5, 4, 3, 2])
        total = sum(len(c) for c in contents)
        mappings, size = [], 0
        while size < total // 3:
            line = ",".join(r.choices(segs, cum_weights=seg_cum, k=r.randint(4, 30)))
            if r.random() < 0.5:
                line += "," + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(r.randint(4, 8)))
            mappings.append(line)
            size += len(line) + 1
        names = sorted({self.ident() for _ in range(60)})
        return json.dumps({"version": 3, "sources": sources, "names": names,
                           "mappings": ";".join(mappings), "sourcesContent": contents})


# ----------------------------------------------------------------------------- the tree

SIZE_BUCKETS = [300, 900, 2000, 4000, 8000, 16000, 32000, 64000]
SIZE_CUM = cum([8, 14, 18, 18, 16, 12, 8, 6])


def file_size(rng):
    b = rng.choices(SIZE_BUCKETS, cum_weights=SIZE_CUM)[0]
    return b // 2 + rng.randrange(b)


def package_name(rng, vocab):
    words = rng.choices(vocab.words, cum_weights=vocab.cum, k=rng.choice((1, 1, 2, 2, 3)))
    name = "-".join(w.lower() for w in words)
    if rng.random() < 0.12:
        name = "@" + rng.choice(vocab.words[:200]).lower() + "/" + name
    return name


def make_package(w, seed, vocab, pkg_seed, prefix, name, dep_names):
    """Writes one package from its own generator (the same pkg_seed gives the same files)."""
    rng = sub_rng(seed, "pkg", pkg_seed)
    local = [f"{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES).capitalize()}" for _ in range(40)]
    t = Text(rng, vocab, local)
    version = f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
    author = " ".join(rng.choices(ENGLISH[:80], k=2)).title()
    has_bin = rng.random() < 0.08
    pkg = {
        "name": name, "version": version, "description": t.prose(rng.randint(5, 16)),
        "main": "lib/index.js", "types": "types/index.d.ts",
        "files": ["lib", "dist", "types", "bin"] if has_bin else ["lib", "dist", "types"],
        "scripts": {"build": "tsc -p .", "test": "mocha test/*.js", "lint": "eslint ."},
        "repository": {"type": "git", "url": f"git+https://github.com/{author.split()[0].lower()}/{name.split('/')[-1]}.git"},
        "keywords": sorted({t.ident().lower() for _ in range(rng.randint(2, 8))}),
        "author": author, "license": "MIT",
        "dependencies": {d: f"^{rng.randint(0, 9)}.{rng.randint(0, 20)}.0" for d in dep_names},
        "engines": {"node": ">=" + rng.choice(("8", "10", "12", "14", "16", "18"))},
    }
    if has_bin:
        pkg["bin"] = {name.split("/")[-1]: "bin/cli.js"}
    w.file(f"{prefix}/package.json", json.dumps(pkg, indent=2) + "\n")
    if rng.random() < 0.9:
        w.file(f"{prefix}/LICENSE", MIT.format(year=rng.randint(2012, 2024), author=author))
    w.file(f"{prefix}/README.md", t.readme(name, file_size(rng)))
    if rng.random() < 0.3:
        w.file(f"{prefix}/CHANGELOG.md", "".join(
            f"## {rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}\n\n- {t.prose(rng.randint(4, 16))}\n\n"
            for _ in range(rng.randint(3, 60))))
    sources, contents = [], []
    for k in range(rng.choice((1, 1, 2, 3, 4, 6, 8, 12, 20))):
        fname = "index.js" if k == 0 else f"{t.ident()}{k}.js"
        code = t.js_module(file_size(rng))
        w.file(f"{prefix}/lib/{fname}", code)
        sources.append(f"../src/{fname[:-3]}.ts")
        contents.append(code)
    if rng.random() < 0.6:
        w.file(f"{prefix}/types/index.d.ts", t.dts(file_size(rng)))
    if rng.random() < 0.35:
        base = name.split("/")[-1]
        w.file(f"{prefix}/dist/{base}.min.js", t.minified(sum(len(c) for c in contents) // 2))
        w.file(f"{prefix}/dist/{base}.min.js.map", t.source_map(sources, contents))
    if has_bin:
        w.file(f"{prefix}/bin/cli.js", "#!/usr/bin/env node\n" + t.js_module(1500), 0o755)
    return pkg.get("bin", {})


def big_bundle(w, seed, vocab, rel, target):
    rng = sub_rng(seed, "bundle", rel)
    t = Text(rng, vocab, [t for t in rng.choices(vocab.words, k=80)])
    parts, size, n = [], 0, 0
    while size < target:
        code = t.js_module(rng.randint(2000, 40000))
        s = f"/***/ \"./src/{t.ident()}{n}.js\":\n/***/ (function(module, exports, __webpack_require__) {{\n{code}\n/***/ }}),\n"
        parts.append(s)
        size += len(s)
        n += 1
    w.file(rel, "(() => {\nvar __webpack_modules__ = ({\n" + "".join(parts) + "});\n})();\n")


def big_json(w, seed, vocab, rel, target):
    rng = sub_rng(seed, "json", rel)
    keys = rng.choices(vocab.words, k=12)
    rows, size = [], 0
    while size < target:
        row = {"id": len(rows), "name": rng.choice(vocab.words),
               "stats": {k: rng.choice(("y", "n", "a", "p", "u")) + " #" + str(rng.randrange(10)) for k in rng.sample(keys, 5)},
               "usage": rng.randrange(100000) / 1000, "since": f"{rng.randint(1, 120)}.{rng.randrange(10)}"}
        s = json.dumps(row)
        rows.append(s)
        size += len(s) + 2
    w.file(rel, "[\n" + ",\n".join(rows) + "\n]\n")


def native_like(w, seed, rel, target, mode):
    """Machine-code-like bytes: recurring 16-byte chunks with noise, compresses ~2-3x."""
    rng = sub_rng(seed, "native", rel)
    dictionary = [random_bytes(rng, 16) for _ in range(4096)]
    dcum = cum([4096 // (r + 1) + 1 for r in range(4096)])
    out, size = [b"\x7fELF\x02\x01\x01\x00" + bytes(8)], 16
    while size < target:
        if rng.random() < 0.25:
            chunk = random_bytes(rng, 64)
        else:
            chunk = b"".join(rng.choices(dictionary, cum_weights=dcum, k=4))
        out.append(chunk)
        size += len(chunk)
    w.file(rel, b"".join(out), mode)


def gen_tree(out, size_mb, seed):
    vocab = Vocab(seed)
    w = Writer(out)
    rng = sub_rng(seed, "layout")
    target = size_mb * 1024 * 1024
    nm = "node_modules"

    w.file("bin/noop", "#!/bin/sh\nexit 0\n", 0o755)
    w.file("package.json", json.dumps({"name": "bench-app", "version": "1.0.0", "private": True,
                                       "bin": {"bench-app": "bin/noop"}}, indent=2) + "\n")

    # Large items first, sized as fractions of the target.
    budget_big = target * 18 // 100
    k = 0
    while budget_big > 0:
        n = min(budget_big, max(512 * 1024, target // 40 + rng.randrange(max(1, target // 40))))
        big_bundle(w, seed, vocab, f"{nm}/{package_name(rng, vocab)}/dist/bundle{k}.js", n)
        budget_big -= n
        k += 1
    budget_json = target * 6 // 100
    k = 0
    while budget_json > 0:
        n = min(budget_json, max(256 * 1024, target // 50))
        big_json(w, seed, vocab, f"{nm}/{package_name(rng, vocab)}/data/table{k}.json", n)
        budget_json -= n
        k += 1
    budget_blob = target * 3 // 100
    kinds = [("prebuilds/linux-x64/addon.node", 0o755), ("dist/module.wasm", 0o644), ("assets/logo.png", 0o644)]
    k = 0
    while budget_blob > 0:
        rel, mode = kinds[k % len(kinds)]
        n = min(budget_blob, (target // 200) * (1 + rng.randrange(6)) if rel[-4:] != ".png" else 4096 + rng.randrange(60000))
        n = max(n, 1)
        data = random_bytes(rng, n)
        w.file(f"{nm}/{package_name(rng, vocab)}-{k}/{rel}", data, mode)
        budget_blob -= n
        k += 1
    budget_native = target * 5 // 100
    k = 0
    while budget_native > 0:
        n = min(budget_native, max(256 * 1024, target // 60))
        native_like(w, seed, f"{nm}/@esbuild-like/linux-x64-{k}/bin/tool", n, 0o755)
        budget_native -= n
        k += 1

    # Packages until the target is reached.
    names, made, bins = set(), [], []
    i = 0
    while w.bytes < target:
        name = package_name(rng, vocab)
        if name in names:
            name = f"{name}-{i}"
        names.add(name)
        deps = sorted({package_name(rng, vocab) for _ in range(rng.randrange(5))})
        prefix = f"{nm}/{name}"
        bins += [(c, f"../{name}/{p}") for c, p in make_package(w, seed, vocab, i, prefix, name, deps).items()]
        made.append((i, name, deps))
        # Nested dependencies; some are exact copies of an existing package (same seed).
        nested_names = set()
        for _ in range(rng.choices((0, 1, 2, 3), cum_weights=cum((70, 18, 8, 4)))[0]):
            if rng.random() < 0.2:
                src_seed, src_name, src_deps = rng.choice(made)
                if src_name not in nested_names:
                    nested_names.add(src_name)
                    make_package(w, seed, vocab, src_seed, f"{prefix}/{nm}/{src_name}", src_name, src_deps)
            else:
                i += 1
                nested = package_name(rng, vocab)
                if nested not in nested_names:
                    nested_names.add(nested)
                    make_package(w, seed, vocab, i, f"{prefix}/{nm}/{nested}", nested, [])
        i += 1

    seen = set()
    for cmd, target_rel in bins:
        if cmd not in seen:
            seen.add(cmd)
            w.symlink(f"{nm}/.bin/{cmd}", target_rel)
    w.fix_dir_modes()
    return w


def gen_bigtree(out, scale, seed):
    """~250 files, most of the bytes in a few large ones (see the module docs)."""
    vocab = Vocab(seed)
    w = Writer(out)
    rng = sub_rng(seed, "bigtree")
    mb = 1024 * 1024 * scale // 100
    w.file("bin/noop", "#!/bin/sh\nexit 0\n", 0o755)
    w.file("package.json", json.dumps({"name": "big-app", "version": "1.0.0", "private": True,
                                       "bin": {"big-app": "bin/noop"}}, indent=2) + "\n")
    native_like(w, seed, "runtime/bin/node", 120 * mb, 0o755)
    native_like(w, seed, "runtime/lib/node_modules/sharp/build/sharp.node", 40 * mb, 0o755)
    native_like(w, seed, "runtime/share/icu/icudt74l.dat", 30 * mb, 0o644)
    big_bundle(w, seed, vocab, "app/dist/index.js", 20 * mb)
    big_json(w, seed, vocab, "app/data/table.json", 12 * mb)
    i = 0
    while w.files < 248:
        name = package_name(rng, vocab)
        make_package(w, seed, vocab, i, f"app/node_modules/{name}-{i}", f"{name}-{i}", [])
        i += 1
    w.fix_dir_modes()
    return w


def gen_smalltree(out, files, seed):
    """`files` small source files (JS, d.ts, JSON, markdown; 200 bytes to 8 KB, ~4 KB median)
    in a project-like layout of ~25 files per directory, entry bin/noop: the tree where a per-file
    cost in the package (an index record, a header) shows most."""
    vocab = Vocab(seed)
    rng = sub_rng(seed, "smalltree", files)
    w = Writer(out)
    w.file("bin/noop", "#!/bin/sh\nexit 0\n", 0o755)
    w.file("package.json", json.dumps({"name": "small-app", "version": "1.0.0", "private": True,
                                       "bin": {"small-app": "bin/noop"}}, indent=2) + "\n")
    local = [f"{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES).capitalize()}" for _ in range(200)]
    t = Text(rng, vocab, local)
    k = 0
    while w.files < files:
        d = f"src/{vocab.words[(k // 25) % 300].lower()}{k // 25}"
        kind = rng.random()
        size = 200 + min(rng.randrange(8000), rng.randrange(8000))
        name = f"{t.ident()}{k}"
        if kind < 0.7:
            w.file(f"{d}/{name}.js", t.js_module(size))
        elif kind < 0.85:
            w.file(f"{d}/{name}.d.ts", t.dts(size))
        elif kind < 0.95:
            w.file(f"{d}/{name}.json", json.dumps({t.ident(): t.prose(rng.randint(3, 12)) for _ in range(max(1, size // 60))}, indent=2) + "\n")
        else:
            w.file(f"{d}/{name}.md", t.readme(name, size))
        k += 1
    w.fix_dir_modes()
    return w


def gen_flat(out, files, seed):
    """`files` small files (100-1000 bytes) in nested dirs, ~100 per dir."""
    rng = sub_rng(seed, "flat", files)
    w = Writer(out)
    for k in range(files):
        rel = f"lib/d{k // 1000:02d}/s{(k // 100) % 10}/f{k:05d}.js"
        body = f"module.exports = {k}; // " + "x" * rng.randrange(100, 1000) + "\n"
        w.file(rel, body)
    w.fix_dir_modes()
    return w


# ----------------------------------------------------------------------------- hashing


def tree_digest(root, exclude):
    """sha256 over (path, type, exec bit, size, content sha256 | link target), sorted by path.
    Top-level names starting with one of `exclude` are skipped (an extractor's own metadata)."""
    h = hashlib.sha256()
    stats = {"files": 0, "dirs": 0, "symlinks": 0, "executables": 0, "bytes": 0}
    entries = []
    for d, dirs, files in os.walk(root):
        rel_d = os.path.relpath(d, root)
        if rel_d == ".":
            dirs[:] = [x for x in dirs if not x.startswith(exclude)]
            files = [x for x in files if not x.startswith(exclude)]
        for name in dirs + files:
            rel = os.path.normpath(os.path.join(rel_d, name))
            entries.append(rel)
    for rel in sorted(entries, key=lambda s: s.encode()):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            stats["symlinks"] += 1
            rec = f"L {rel} -> {os.readlink(p)}"
        elif stat.S_ISDIR(st.st_mode):
            stats["dirs"] += 1
            rec = f"D {rel}"  # directory modes are not compared: extractors may apply umask
        elif stat.S_ISREG(st.st_mode):
            fh = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    fh.update(chunk)
            stats["files"] += 1
            stats["bytes"] += st.st_size
            if mode & 0o111:
                stats["executables"] += 1
            rec = f"F {rel} {'x' if mode & 0o111 else '-'} {st.st_size} {fh.hexdigest()}"
        else:
            rec = f"? {rel}"
        h.update(rec.encode() + b"\n")
    stats["sha256"] = h.hexdigest()
    return stats


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tree")
    t.add_argument("out")
    t.add_argument("--size-mb", type=int, default=200)
    t.add_argument("--seed", type=int, default=1)
    f = sub.add_parser("flat")
    f.add_argument("out")
    f.add_argument("--files", type=int, required=True)
    f.add_argument("--seed", type=int, default=1)
    b = sub.add_parser("bigtree")
    b.add_argument("out")
    b.add_argument("--scale", type=int, default=100)
    b.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("smalltree")
    m.add_argument("out")
    m.add_argument("--files", type=int, default=4000)
    m.add_argument("--seed", type=int, default=1)
    h = sub.add_parser("hash")
    h.add_argument("dir")
    h.add_argument("--exclude-prefix", action="append", default=[], help="skip top-level names starting with this (e.g. .sea)")
    a = ap.parse_args()
    if a.cmd == "hash":
        print(json.dumps(tree_digest(a.dir, tuple(a.exclude_prefix))))
        return
    if os.path.lexists(a.out):
        sys.exit(f"gen-tree.py: {a.out} already exists; give a fresh path")
    os.makedirs(a.out, mode=0o755)
    os.chmod(a.out, 0o755)
    if a.cmd == "tree":
        w = gen_tree(a.out, a.size_mb, a.seed)
    elif a.cmd == "bigtree":
        w = gen_bigtree(a.out, a.scale, a.seed)
    elif a.cmd == "smalltree":
        w = gen_smalltree(a.out, a.files, a.seed)
    else:
        w = gen_flat(a.out, a.files, a.seed)
    print(json.dumps({"files": w.files, "symlinks": w.links, "dirs": len(w.made_dirs), "bytes": w.bytes}))


if __name__ == "__main__":
    main()
