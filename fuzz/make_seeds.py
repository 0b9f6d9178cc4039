#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/: copies of the test fixtures, plus hostile
inputs made here (tar streams, a dense DAG, secrets next to `$`). Run from anywhere;
re-running rewrites the same files."""

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def copy(target, path, name=None):
    put(target, name or Path(path).name, (ROOT / path).read_bytes())


# hera.config
copy("hera_config", "crates/config/tests/fixtures/hera.config")
put("hera_config", "cr-only", "argo_namespace='vcity'\rargo_server=a:443\r# c\rargo_token=x\r")
put("hera_config", "token-hash-comment", "argo_token=Bearer v2:x # my token\n")
put("hera_config", "forms",
    "\ufeff[s]\nargo_namespace: 'a'\nargo_server  b:1  \nargo_token=\"Bearer v2:q\" ; c\n"
    "argo_nmespace=x\nargo_namespace=again\n[unclosed\n")
put("hera_config", "bad-utf8", b"argo_namespace=a\nargo_token=\xff\xfe\n")

# hera.bash
copy("hera_bash", "crates/config/tests/fixtures/hera.bash")
copy("hera_bash", "crates/config/tests/fixtures/crlf.bash")
put("hera_bash", "password-dollar", 'XTASK_REGISTRY_PASSWORD="abc$S3CR3Tpart"\n')
put("hera_bash", "expansions",
    'A=1\nB="${A}x$HOME"\nexport C=\'$A\'\nARGO_TOKEN="multi\nline"\n'
    'D=$(date)\nE=${A:-z}\nARGO_NAMESPACE=ns # c\nF=\\$x\\ y\n')
put("hera_bash", "errors", "A = 1\nB=a b\n'C'=x\nexport\n=\n")

# xtask.toml
copy("xtask_toml", "crates/config/tests/fixtures/xtask.example.toml")
copy("xtask_toml", "xtask.toml", "root-xtask.toml")
put("xtask_toml", "password", '[registry]\nhost = "h:1"\npassword = "hunter2secret"\n')
put("xtask_toml", "types",
    'default_profile = "nope"\n[timeouts]\nstall_grace_secs = "60"\n[images]\nparallelism = -1\n'
    '[[mirrors]]\nsource = 5\n[profiles.x.cluster]\nnamespace = ["a"]\n')

# workflows
for p in sorted((ROOT / "crates/argo/tests/fixtures").glob("*.yaml")):
    copy("workflow", p.relative_to(ROOT))
for p in sorted((ROOT / "workflows").glob("*.yaml")):
    copy("workflow", p.relative_to(ROOT), "workflows-" + p.name)
put("workflow", "multi-document",
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: a}\n---\n"
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: b}\n")
put("workflow", "kind-5", "apiVersion: argoproj.io/v1alpha1\nkind: 5\nmetadata: {name: a}\n")
# 1000 tasks, each depending on every task: one anchored list, aliased by every task,
# keeps the file small (the expanded document is a million names).
names = [f"t{i}" for i in range(1000)]
lines = [
    "apiVersion: argoproj.io/v1alpha1", "kind: Workflow",
    "metadata: {generateName: dense-}", "spec:", "  entrypoint: main", "  templates:",
    "  - name: l", "    container: {image: busybox, command: [\"true\"]}",
    "  - name: main", "    dag:", "      tasks:",
]
for i, n in enumerate(names):
    deps = "&a [" + ",".join(names) + "]" if i == 0 else "*a"
    lines.append(f"      - {{name: {n}, template: l, dependencies: {deps}}}")
put("workflow", "dense-dag-1000", "\n".join(lines) + "\n")

# .dockerignore: patterns, NUL, paths
put("dockerignore", "docker-rules",
    "# comment\n*.log\n!keep.log\n/build\n**/target\ndocs/**\n!docs/README.md\n"
    "a**b\n[!x]y\n\\*lit\n\0app.log\nsub/app.log\nkeep.log\nbuild/x\nsrc/target/y\n"
    "docs/README.md\ndocs/a\naxxb\nzy\n*lit\nDockerfile\n.dockerignore")
put("dockerignore", "everything", "*\n**\n!Dockerfile\n\0Dockerfile\na/b\n.dockerignore\n[x]\n a")
put("dockerignore", "unclosed-class", "ok\n[abc\n\0x")

# diagnose: each fixture as one JSON object, the smallest ones.
fixtures = ROOT / "crates/diagnose/tests/fixtures"
seeds = []
for d in sorted(p for p in fixtures.iterdir() if p.is_dir()):
    doc = {"now": (d / "now.txt").read_text().strip()}
    for part in ["workflow", "pods", "events", "nodes", "logs"]:
        f = d / f"{part}.json"
        if f.exists():
            doc[part] = json.loads(f.read_text())
    seeds.append((len(json.dumps(doc, separators=(",", ":"))), d.name, doc))
seeds.sort()
for size, name, doc in seeds[:24]:
    put("diagnose", name + ".json", json.dumps(doc, separators=(",", ":")))

# fetch: listing output, then the tar stream.
def listing(files, hashes=None):
    out = "@@xtask-listing 1\n@@kind dir\n@@tar yes\n@@gzip no\n@@sha256sum yes\n@@now 1700000100\n@@sizes\n"
    out += "".join(f"{size} 1700000000 ./{name}\n" for name, size in files)
    if hashes:
        out += "@@hashes\n" + "".join(f"{h}  ./{n}\n" for n, h in hashes)
    return (out + "@@links\n@@end\n").encode()


def tar_of(members, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name, data=b"", kind=tarfile.REGTYPE, link="", mtime=1700000000):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    info.mtime = mtime
    info.mode = 0o644
    return info, (data if kind == tarfile.REGTYPE else None)


def header(name, size, typeflag, mtime_field, extra=b""):
    """A raw 512-byte old-GNU header; `mtime_field` is the 12 bytes as sent."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = mtime_field
    h[156:157] = typeflag
    h[257:265] = b"ustar  \0"
    h[345:345 + len(extra)] = extra
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


two = [("a.txt", 5), ("d/b.bin", 3)]
put("fetch_extract", "plain", listing(two) + tar_of([member("a.txt", b"hello"), member("d/b.bin", b"\0\1\2")]))
put("fetch_extract", "gnu-mtime-minus-one",
    listing([("m.txt", 4)]) + header(b"m.txt", 4, b"0", b"\xff" * 12) + b"data".ljust(512, b"\0") + b"\0" * 1024)
# Old-GNU sparse ('S'): 4 bytes of data at the end of a 256 MiB file of zeros.
sparse = bytearray(header(b"s.bin", 4, b"S", b"%011o\0" % 1700000000))
sparse[386:398] = b"%011o\0" % ((256 << 20) - 4)  # offset of the region
sparse[398:410] = b"%011o\0" % 4            # its length
sparse[483:495] = b"%011o\0" % (256 << 20)  # real size
sparse[148:156] = b" " * 8
sparse[148:156] = b"%06o\0 " % sum(sparse)
put("fetch_extract", "old-gnu-sparse-256mib",
    listing([("s.bin", 256 << 20)]) + bytes(sparse) + b"abcd".ljust(512, b"\0") + b"\0" * 1024)
put("fetch_extract", "escapes",
    listing([("x", 1)]) + tar_of([member("../x", b"1"), member("/etc/x", b"1"),
                                  member("x", kind=tarfile.SYMTYPE, link="/etc/passwd")]))
put("fetch_extract", "hardlink",
    listing([("a", 3), ("b", 3)]) + tar_of([member("a", b"abc"), member("b", kind=tarfile.LNKTYPE, link="a")]))
put("fetch_extract", "link-then-write",
    listing([("d/f", 1)]) + tar_of([member("d", kind=tarfile.SYMTYPE, link=".."), member("d/f", b"z")]))
put("fetch_extract", "pax-long-name",
    listing([("p/" + "n" * 150, 2)]) + tar_of([member("p/" + "n" * 150, b"ok")], tarfile.PAX_FORMAT))
put("fetch_extract", "duplicate-and-mismatch",
    listing([("a", 1), ("b", 9)]) + tar_of([member("a", b"1"), member("a", b"1"), member("b", b"short")]))
import hashlib
put("fetch_extract", "hashed",
    listing([("h", 2)], [("h", hashlib.sha256(b"no").hexdigest())]) + tar_of([member("h", b"ok")]))
put("fetch_extract", "listing-only", listing(two)[:-7] + b"@@links\n./l\n@@end\n")

# Each `**` glued to other characters doubles the globs of a pattern.
put("dockerignore", "glued-double-stars-22", "a" + "x**" * 22 + "y\n\0axy")
put("dockerignore", "glued-double-stars-8", "b" + "x**" * 8 + "y\n!bx*/k\n\0bxxy\nbxq/k/Dockerfile")

# The same DAG with `depends`: one aliased string per task stays under the YAML node
# budget that the aliased list above breaches, and an anchor on each name keeps the
# alias/anchor ratio acceptable, so validation sees all million edges.
lines = lines[:11]
for i, n in enumerate(names):
    dep = '&d "' + " && ".join(names) + '"' if i == 0 else "*d"
    lines.append(f"      - {{name: &n{i} {n}, template: l, depends: {dep}}}")
put("workflow", "dense-dag-1000-depends", "\n".join(lines) + "\n")
