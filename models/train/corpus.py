#!/usr/bin/env python3
"""Assemble the code corpus of the default model from registry packages (issue 3, part 1).

    python models/train/corpus.py [--out /work/corpus] [--manifest models/train/manifest.json]

Reads the fixed package list `packages.toml` (exact versions), downloads each package with the
registry's own client (PyPI's JSON API for the sdist, `cargo fetch`, `npm pack`,
`apt-get download`), reads the licence from the package's own metadata and keeps only MIT,
Apache-2.0, BSD, PSF and ISC packages. From each archive it takes the Python, Rust, JavaScript,
TypeScript and Go source files, drops vendored, built, generated, minified and binding files and
exact duplicates, splits by package into train / valid / test, and writes

    <out>/files/{train,valid,test}.jsonl   one {"pkg", "path", "lang", "text"} per file
    manifest.json                          every package: registry, version, licence, split,
                                           files and bytes per language (committed)

Downloads are cached under <out>/dl, so a second run is offline and byte-identical.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import email.parser
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "valid", "test")
LANGS = ("python", "rust", "javascript", "typescript", "go")

# ----------------------------------------------------------------------------------------------
# Licences

ALLOWED_SPDX = {
    "mit": "MIT",
    "mit-0": "MIT",
    "expat": "MIT",  # Debian's name for MIT
    "apache-2.0": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache2": "Apache-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-3-clause-clear": "BSD-3-Clause",
    "0bsd": "BSD",
    "bsd": "BSD",
    "isc": "ISC",
    "psf-2.0": "PSF",
    "python-2.0": "PSF",
    "psf": "PSF",
    # Debian copyright files: "Go" is the Go project's BSD-3-Clause text.
    "go": "BSD-3-Clause",
}

CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "Python Software Foundation License": "PSF",
    "ISC License (ISCL)": "ISC",
}


def spdx_allowed(expr: str) -> str | None:
    """Evaluates an SPDX expression; returns the licence we take the package under, or None.

    `A OR B` needs one allowed side, `A AND B` needs both (then the first is reported).
    Cargo's old `MIT/Apache-2.0` means OR.
    """
    s = expr.replace("/", " OR ").replace("(", " ( ").replace(")", " ) ")
    toks = s.split()
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def factor():
        t = take() if peek() is not None else None
        if t == "(":
            v = parse_or()
            if peek() == ")":
                take()
            return v
        if t is None:
            return None
        if peek() == "WITH":  # `Apache-2.0 WITH LLVM-exception`: exceptions only add rights
            take()
            take()
        # Debian writes variants of one licence text as `BSD-3-clause~Google`.
        return ALLOWED_SPDX.get(t.lower().split("~", 1)[0])

    def parse_and():
        vals = [factor()]
        while peek() == "AND":
            take()
            vals.append(factor())
        return vals[0] if all(vals) else None

    def parse_or():
        vals = [parse_and()]
        while peek() == "OR":
            take()
            vals.append(parse_and())
        return next((v for v in vals if v), None)

    try:
        return parse_or()
    except IndexError:
        return None


_REJECT_WORDS = re.compile(r"\b(L?GPL|AGPL|MPL|Mozilla|EPL|Eclipse|CDDL|proprietary|commercial)\b", re.I)


def free_text_licence(text: str) -> str | None:
    """The `License:` field of PKG-INFO: an SPDX id, a name, or the whole licence text."""
    t = text.strip()
    if not t or t.upper() == "UNKNOWN":
        return None
    if len(t) < 80:
        if _REJECT_WORDS.search(t):
            return None
        v = spdx_allowed(t)
        if v:
            return v
        low = t.lower()
        for key, lic in (
            ("apache", "Apache-2.0"),
            ("mit", "MIT"),
            ("bsd", "BSD"),
            ("python software foundation", "PSF"),
            ("psf", "PSF"),
            ("isc", "ISC"),
        ):
            if re.search(r"\b" + re.escape(key) + r"\b", low):
                return lic
        return None
    head = t[:600]
    if _REJECT_WORDS.search(head):
        return None
    if "Permission is hereby granted, free of charge" in t or "MIT License" in head:
        return "MIT"
    if "Redistribution and use in source and binary forms" in t:
        return "BSD"
    if "Apache License" in head:
        return "Apache-2.0"
    if "Permission to use, copy, modify, and/or distribute" in t:
        return "ISC"
    return None


def pkginfo_licence(pkg_info: str) -> tuple[str, str | None]:
    """(what the metadata says, the licence we accept it under or None)."""
    msg = email.parser.Parser().parsestr(pkg_info, headersonly=True)
    expr = msg.get("License-Expression")
    if expr:
        return expr, spdx_allowed(expr)
    classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or [] if c.startswith("License ::")]
    said = "; ".join(classifiers)
    # Several licence classifiers may mean "either" or "both" (tqdm: MIT and MPL files): accept
    # only when every one of them is allowed.
    if classifiers and all(c in CLASSIFIERS for c in classifiers):
        return said, CLASSIFIERS[classifiers[0]]
    if classifiers:
        return said, None
    free = msg.get("License") or ""
    v = free_text_licence(free)
    shown = said or (free.strip().splitlines() or [""])[0][:80]
    if classifiers and not v:
        return shown, None
    return shown, v


def dep5_licence(copyright_text: str) -> tuple[str, str | None]:
    """Licence of the `Files: *` stanza of a Debian machine-readable copyright file."""
    for stanza in re.split(r"\n\s*\n", copyright_text):
        if re.search(r"^Files:\s*\*\s*$", stanza, re.M):
            m = re.search(r"^License:\s*(.+)$", stanza, re.M)
            if m:
                name = m.group(1).strip()
                return name, spdx_allowed(name.replace(" or ", " OR ").replace(" and ", " AND "))
    return "unknown", None


# ----------------------------------------------------------------------------------------------
# Files

EXT_LANG = {
    ".py": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".go": "go",
}
SKIP_DIRS = {
    "vendor", "vendored", "_vendor", "third_party", "third-party", "thirdparty", "node_modules",
    "dist", "build", "testdata", ".git", "__pycache__", "site-packages", "bower_components",
    "min", "umd", "cjs-build", "esm-build",
}
GENERATED = re.compile(
    r"@generated|do not edit|code generated|autogenerated|auto-generated|automatically generated"
    r"|generated by|this file is generated|generated from",
    re.I,
)
COMPILED_JS = re.compile(
    r"sourceMappingURL=|Object\.defineProperty\(exports, \"__esModule\"|__awaiter\(|"
    r"_interopRequireDefault\(|__webpack_require__|\bSystem\.register\(|__createBinding|__exportStar|"
    r"exports\.__esModule|Object\.defineProperty\(exports, '__esModule'|^\"use strict\";\s*\nvar __",
    re.M,
)
BINDING_NAME = re.compile(r"(bindings?\.rs$|_ffi\.rs$|_pb2(_grpc)?\.py$|\.pb\.go$|_sys\.rs$|^z(syscall|types|errors|sysnum)_)")
MAX_FILE_BYTES = 300_000
MAX_LINE = 1000
MAX_MEAN_LINE = 120


def file_lang(path: str) -> str | None:
    low = path.lower()
    if low.endswith((".d.ts", ".d.mts", ".d.cts")) or ".min." in low:
        return None
    return EXT_LANG.get(os.path.splitext(low)[1])


def reject_reason(path: str, text: str, lang: str) -> str | None:
    """Why a source file is not used, or None to keep it."""
    parts = path.split("/")
    if any(p.lower() in SKIP_DIRS for p in parts[:-1]):
        return "vendored_or_built"
    if BINDING_NAME.search(parts[-1]):
        return "binding"
    if len(text) < 64:
        return "tiny"
    if len(text) > MAX_FILE_BYTES:
        return "huge"
    if GENERATED.search(text[:1500]):
        return "generated"
    lines = text.split("\n")
    if max(len(l) for l in lines) > MAX_LINE:
        return "minified"
    nonempty = [l for l in lines if l.strip()]
    if nonempty and sum(map(len, nonempty)) / len(nonempty) > MAX_MEAN_LINE:
        return "minified"
    if lang in ("javascript", "typescript") and COMPILED_JS.search(text):
        return "compiled"
    if "\x00" in text:
        return "binary"
    return None


@dataclass
class Package:
    registry: str
    name: str
    version: str
    group: str  # the language the package counts as when splitting
    max_bytes: int
    train_max_bytes: int  # the cap when the package lands in train
    pinned_split: str | None = None
    licence_said: str = ""
    licence: str | None = None
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (path, lang, text)
    skipped: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    split: str | None = None

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}@{self.version}"


def run(cmd: list[str], cwd: Path | None = None, timeout: int = 600) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-400:]}")
    return r.stdout


# ----------------------------------------------------------------------------------------------
# Registries: each `fetch_*` returns the archive path; each `read_*` fills files and licence.


def fetch_pypi(p: Package, dl: Path) -> Path:
    d = dl / "pypi"
    d.mkdir(parents=True, exist_ok=True)
    done = list(d.glob(f"{p.name}=={p.version}=*"))
    if done:
        return done[0]
    # PEP 691 JSON form of the simple index: the same listing pip reads.
    req = urllib.request.Request(
        f"https://pypi.org/simple/{norm_name(p.name)}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        meta = json.load(r)
    sdists = []
    for f in meta["files"]:
        fn = f["filename"]
        for ext in (".tar.gz", ".zip"):
            if fn.endswith(ext) and "-" in fn:
                n, v = fn[: -len(ext)].rsplit("-", 1)
                if norm_name(n) == norm_name(p.name) and v == p.version:
                    sdists.append(f)
    if not sdists:
        raise RuntimeError("no source distribution")
    f = sdists[0]
    u = {"url": f["url"], "filename": f["filename"], "digests": f["hashes"]}
    with urllib.request.urlopen(u["url"], timeout=300) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != u["digests"]["sha256"]:
        raise RuntimeError("sha256 mismatch")
    out = d / f"{p.name}=={p.version}={u['filename']}"
    out.write_bytes(data)
    return out


def norm_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def archive_members(path: Path):
    """(path, bytes) of the regular files of a .tar.gz / .tgz / .crate / .zip / tar stream."""
    name = path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, z.read(info)
        return
    with tarfile.open(path, "r:*") as t:
        for m in t:
            if m.isfile():
                f = t.extractfile(m)
                if f is not None:
                    yield m.name, f.read()


def strip_top(path: str) -> str:
    path = path.lstrip("./")
    return path.split("/", 1)[1] if "/" in path else path


def collect(p: Package, members, rel) -> None:
    """Filters source files of an archive into `p.files`, in cap order (`apply_cap` cuts them)."""
    cands = []
    for raw_path, data in members:
        path = rel(raw_path)
        if path is None:
            continue
        lang = file_lang(path)
        if lang is None:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            p.skipped["not_utf8"] = p.skipped.get("not_utf8", 0) + 1
            continue
        if text.startswith("\ufeff"):
            text = text[1:]
        why = reject_reason(path, text, lang)
        if why:
            p.skipped[why] = p.skipped.get(why, 0) + 1
            continue
        cands.append((path, lang, text))
    # The cap takes files in the order of a hash of their path (deterministic subset).
    cands.sort(key=lambda f: hashlib.sha256(f[0].encode()).hexdigest())
    p.files = cands


def apply_cap(p: Package) -> None:
    """Keeps the files of `p` (in `collect`'s order) that fit greedily under the cap of its split.

    The cap depends on the split, so it is applied after `assign_splits`: training packages may
    contribute more text (`*_train_max_bytes`) while valid/test keep exactly their files.
    """
    cap = p.train_max_bytes if p.split == "train" else p.max_bytes
    kept, total = [], 0
    for f in p.files:
        n = len(f[2].encode())
        if total + n > cap:
            p.skipped["over_cap"] = p.skipped.get("over_cap", 0) + 1
            continue
        total += n
        kept.append(f)
    p.files = sorted(kept)


def read_pypi(p: Package, archive: Path) -> None:
    members = list(archive_members(archive))
    pkg_info = next(
        (d for n, d in members if n.count("/") == 1 and n.endswith("/PKG-INFO")), None
    )
    if pkg_info is None:
        raise RuntimeError("no PKG-INFO")
    p.licence_said, p.licence = pkginfo_licence(pkg_info.decode("utf-8", "replace"))
    if p.licence:
        collect(p, members, lambda n: strip_top(n) if file_lang(n) == "python" else None)


def read_npm(p: Package, archive: Path) -> None:
    members = list(archive_members(archive))
    pj = next((d for n, d in members if n == "package/package.json"), None)
    if pj is None:
        raise RuntimeError("no package.json")
    meta = json.loads(pj)
    lic = meta.get("license") or meta.get("licenses") or ""
    if isinstance(lic, dict):
        lic = lic.get("type", "")
    if isinstance(lic, list):
        lic = " OR ".join(x.get("type", "") if isinstance(x, dict) else str(x) for x in lic)
    p.licence_said = str(lic)
    p.licence = spdx_allowed(str(lic)) if lic else None
    if p.licence:
        # A TypeScript package's JavaScript is its build output.
        only_ts = (lambda n: strip_top(n) if file_lang(n) == "typescript" else None)
        collect(p, members, only_ts if p.group == "typescript" else strip_top)


def read_crate(p: Package, archive: Path) -> None:
    members = list(archive_members(archive))
    ct = next((d for n, d in members if n.count("/") == 1 and n.endswith("/Cargo.toml")), None)
    if ct is None:
        raise RuntimeError("no Cargo.toml")
    meta = tomllib.loads(ct.decode("utf-8")).get("package", {})
    lic = meta.get("license") or ""
    p.licence_said = lic or "license-file"
    p.licence = spdx_allowed(lic) if lic else None
    if p.name.endswith("-sys"):
        p.licence_said += " (binding crate: skipped)"
        p.licence = None
    if p.licence:
        collect(p, members, strip_top)


def read_deb(p: Package, archive: Path) -> None:
    tar_bytes = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True
    ).stdout
    members = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as t:
        for m in t:
            if m.isfile():
                members.append((m.name.lstrip("./"), t.extractfile(m).read()))
    cr = next(
        (d for n, d in members if n == f"usr/share/doc/{p.name}/copyright"), None
    )
    if cr is None:
        raise RuntimeError("no copyright file")
    p.licence_said, p.licence = dep5_licence(cr.decode("utf-8", "replace"))

    def rel(n: str) -> str | None:
        for root in ("usr/share/gocode/src/", "usr/lib/go-", "usr/share/go-"):
            if n.startswith(root):
                rest = n[len(root):]
                if root != "usr/share/gocode/src/":
                    rest = rest.split("/", 1)[1] if "/" in rest else rest
                return rest
        return None

    if p.licence:
        collect(p, members, rel)


def fetch_npm(p: Package, dl: Path) -> Path:
    d = dl / "npm"
    d.mkdir(parents=True, exist_ok=True)
    stem = p.name.replace("@", "").replace("/", "-")
    out = d / f"{stem}-{p.version}.tgz"
    if out.exists():
        return out
    tmp = d / f".tmp-{stem}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    run(["npm", "pack", "--silent", f"{p.name}@{p.version}"], cwd=tmp, timeout=300)
    got = list(tmp.glob("*.tgz"))
    if len(got) != 1:
        raise RuntimeError(f"npm pack produced {got}")
    got[0].rename(out)
    shutil.rmtree(tmp)
    return out


def fetch_debs(pkgs: list[Package], dl: Path) -> dict[str, Path]:
    d = dl / "debian"
    d.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for p in pkgs:
        ver = p.version.split(":", 1)[-1]
        hits = list(d.glob(f"{p.name}_{ver.replace('+', '*')}_*.deb")) or list(
            d.glob(f"{p.name}_*{ver.replace('+', '*')}_*.deb")
        )
        if not hits:
            try:
                run(["apt-get", "download", f"{p.name}={p.version}"], cwd=d, timeout=600)
            except Exception as e:  # noqa: BLE001
                p.error = str(e)
                continue
            hits = [x for x in d.glob(f"{p.name}_*.deb")]
        if hits:
            found[p.name] = sorted(hits)[0]
        else:
            p.error = "apt-get download left no .deb"
    return found


def fetch_crates(pkgs: list[Package], dl: Path) -> dict[str, Path]:
    """`cargo fetch` in a throwaway project that depends on every crate at its exact version."""
    proj = dl / "crates-project"
    (proj / "src").mkdir(parents=True, exist_ok=True)
    (proj / "src" / "lib.rs").write_text("")
    deps = "\n".join(f'{p.name} = "={p.version}"' for p in pkgs)
    (proj / "Cargo.toml").write_text(
        '[package]\nname = "corpus-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
        'publish = false\n\n[workspace]\n\n[dependencies]\n' + deps + "\n"
    )
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))

    def locate(p: Package) -> Path | None:
        for c in (home / "registry" / "cache").glob(f"*/{p.name}-{p.version}.crate"):
            return c
        return None

    if any(locate(p) is None for p in pkgs):
        try:
            run(["cargo", "fetch", "--manifest-path", str(proj / "Cargo.toml")], timeout=1200)
        except Exception as e:  # noqa: BLE001
            print(f"cargo fetch of all crates failed ({e}); fetching one by one", file=sys.stderr)
            for p in pkgs:
                if locate(p) is None:
                    one = dl / "crates-one" / p.name
                    (one / "src").mkdir(parents=True, exist_ok=True)
                    (one / "src" / "lib.rs").write_text("")
                    (one / "Cargo.toml").write_text(
                        '[package]\nname = "corpus-fetch-one"\nversion = "0.0.0"\n'
                        f'edition = "2021"\n\n[workspace]\n\n[dependencies]\n{p.name} = "={p.version}"\n'
                    )
                    try:
                        run(["cargo", "fetch", "--manifest-path", str(one / "Cargo.toml")])
                    except Exception as e2:  # noqa: BLE001
                        p.error = str(e2)
    out = {}
    for p in pkgs:
        c = locate(p)
        if c is not None:
            out[p.name] = c
        elif not p.error:
            p.error = "crate not in the cargo cache after cargo fetch"
    return out


# ----------------------------------------------------------------------------------------------


def load_packages(path: Path) -> tuple[dict, list[Package]]:
    cfg = tomllib.loads(path.read_text())
    dflt = cfg.get("defaults", {})
    pkgs = []

    def add(registry: str, e: dict, group: str, kind: str) -> None:
        # An entry's own max_bytes caps every split; else the defaults, train's own if given.
        cap = dflt.get(f"{kind}_max_bytes", 10**6)
        train_cap = dflt.get(f"{kind}_train_max_bytes", cap)
        pkgs.append(Package(registry, e["name"], e["version"], group, e.get("max_bytes", cap),
                            e.get("max_bytes", train_cap), e.get("split")))

    for e in cfg.get("pypi", []):
        add("pypi", e, "python", "python")
    for e in cfg.get("crates", []):
        add("crates.io", e, "rust", "rust")
    for e in cfg.get("npm", []):
        add("npm", e, {"js": "javascript", "ts": "typescript"}[e.get("lang", "js")], "npm")
    for e in cfg.get("debian_go", []):
        add("debian", e, "go", "go")
    return cfg, pkgs


def assign_splits(pkgs: list[Package], valid_frac: float, test_frac: float) -> None:
    """By package, per language group: order by a hash of the name, test first, then valid."""
    for group in LANGS:
        members = [p for p in pkgs if p.group == group and p.licence and p.files]
        for p in members:
            if p.pinned_split:
                p.split = p.pinned_split
        free = sorted(
            (p for p in members if not p.pinned_split),
            key=lambda p: hashlib.sha256(f"{p.registry}:{p.name}".encode()).hexdigest(),
        )
        n = len(free)
        n_test = max(1, round(n * test_frac)) if n >= 3 else 0
        n_valid = max(1, round(n * valid_frac)) if n >= 3 else 0
        for i, p in enumerate(free):
            p.split = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=Path, default=HERE / "packages.toml")
    ap.add_argument("--out", type=Path, default=Path("/work/corpus"))
    ap.add_argument("--manifest", type=Path, default=HERE / "manifest.json")
    ap.add_argument("--valid-frac", type=float, default=0.05)
    ap.add_argument("--test-frac", type=float, default=0.05)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()

    cfg, pkgs = load_packages(args.packages)
    dl = args.out / "dl"
    dl.mkdir(parents=True, exist_ok=True)

    archives: dict[str, Path] = {}
    crates = [p for p in pkgs if p.registry == "crates.io"]
    debs = [p for p in pkgs if p.registry == "debian"]
    got = fetch_crates(crates, dl)
    for p in crates:
        if p.name in got:
            archives[p.key] = got[p.name]
    for name, a in fetch_debs(debs, dl).items():
        archives[next(p.key for p in debs if p.name == name)] = a

    def fetch_one(p: Package):
        try:
            if p.registry == "pypi":
                return p, fetch_pypi(p, dl)
            if p.registry == "npm":
                return p, fetch_npm(p, dl)
        except Exception as e:  # noqa: BLE001
            p.error = f"download: {e}"
        return p, None

    with cf.ThreadPoolExecutor(args.jobs) as ex:
        for p, a in ex.map(fetch_one, [p for p in pkgs if p.registry in ("pypi", "npm")]):
            if a is not None:
                archives[p.key] = a

    readers = {"pypi": read_pypi, "npm": read_npm, "crates.io": read_crate, "debian": read_deb}
    for p in pkgs:
        a = archives.get(p.key)
        if a is None:
            p.error = p.error or "not downloaded"
            print(f"  MISSING {p.key}: {p.error}", file=sys.stderr)
            continue
        try:
            readers[p.registry](p, a)
        except Exception as e:  # noqa: BLE001
            p.error = f"read: {e}"
            print(f"  ERROR {p.key}: {p.error}", file=sys.stderr)
            continue
        if not p.licence:
            print(f"  SKIP licence {p.key}: {p.licence_said!r}", file=sys.stderr)

    assign_splits(pkgs, args.valid_frac, args.test_frac)
    for p in pkgs:
        apply_cap(p)

    # Exact duplicates: train first, so a held-out file that also occurs in training is dropped.
    seen: set[str] = set()
    files_dir = args.out / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    outs = {s: open(files_dir / f"{s}.jsonl", "w", encoding="utf-8") for s in SPLITS}
    entries = []
    for split in SPLITS:
        for p in pkgs:
            if p.split != split:
                continue
            files: dict[str, int] = {}
            nbytes: dict[str, int] = {}
            for path, lang, text in p.files:
                h = hashlib.sha256(text.encode()).hexdigest()
                if h in seen:
                    p.skipped["duplicate"] = p.skipped.get("duplicate", 0) + 1
                    continue
                seen.add(h)
                outs[split].write(json.dumps(
                    {"pkg": p.key, "path": path, "lang": lang, "text": text}, ensure_ascii=False) + "\n")
                files[lang] = files.get(lang, 0) + 1
                nbytes[lang] = nbytes.get(lang, 0) + len(text.encode())
            p.files_count, p.bytes_count = files, nbytes  # type: ignore[attr-defined]
    for f in outs.values():
        f.close()

    for p in pkgs:
        entries.append({
            "package": p.name,
            "version": p.version,
            "registry": p.registry,
            "group": p.group,
            "licence_metadata": p.licence_said,
            "licence": p.licence,
            "included": bool(p.split),
            "split": p.split,
            "files": getattr(p, "files_count", {}),
            "bytes": getattr(p, "bytes_count", {}),
            "dropped": dict(sorted(p.skipped.items())),
            **({"error": p.error} if p.error else {}),
        })
    totals: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
    for p in pkgs:
        if not p.split:
            continue
        t = totals[p.split]
        for lang, n in getattr(p, "bytes_count", {}).items():
            t.setdefault(lang, {"files": 0, "bytes": 0, "packages": 0})
            t[lang]["bytes"] += n
            t[lang]["files"] += p.files_count[lang]  # type: ignore[attr-defined]
    for s in SPLITS:
        for g in LANGS:
            n = sum(1 for p in pkgs if p.split == s and p.group == g)
            if n:
                totals[s].setdefault(g, {"files": 0, "bytes": 0, "packages": 0})["packages"] = n
    manifest = {
        "corpus_version": cfg.get("corpus_version"),
        "allowed_licences": ["MIT", "Apache-2.0", "BSD", "PSF", "ISC"],
        "split_rule": f"by package, per language group, ordered by sha256(registry:name); "
                      f"test {args.test_frac}, valid {args.valid_frac}, rest train",
        "totals": totals,
        "files_sha256": {
            s: hashlib.sha256((files_dir / f"{s}.jsonl").read_bytes()).hexdigest() for s in SPLITS
        },
        "packages": entries,
    }
    args.manifest.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    print("split      " + "".join(f"{l:>14}" for l in LANGS))
    for s in SPLITS:
        row = "".join(
            f"{totals[s].get(l, {}).get('bytes', 0) / 1e6:8.2f}MB/{totals[s].get(l, {}).get('packages', 0):3d}"
            for l in LANGS
        )
        print(f"{s:10} {row}")
    kept = sum(1 for p in pkgs if p.split)
    print(f"{kept} of {len(pkgs)} packages used; manifest {args.manifest}")


if __name__ == "__main__":
    main()
