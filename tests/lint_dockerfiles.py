#!/usr/bin/env python3
"""Offline lint of the Dockerfiles of containers/ (no network, no Docker engine).

For each image folder (a Dockerfile, or an image.toml naming one) it reads the Dockerfile
the way the engine's classic builder does (the toolkit builds without BuildKit) and
reports, as `file:line: error|warning: message`:

  errors    unknown instructions; anything but ARG before the first FROM; no FROM; a base
            image without a tag or tagged `latest`, or with an unresolved ${ARG}; COPY/ADD
            sources that are missing from the build context, excluded by its
            .dockerignore, or outside it; ADD or COPY of a URL; `apt-get install` without
            -y; exec-form arguments that are not a JSON list of strings (Docker silently
            runs them through a shell instead); BuildKit-only syntax (--chmod, --mount,
            heredocs...); bad EXPOSE ports; duplicate stage names; COPY --from an unknown
            stage index.
  warnings  `apt-get install` without --no-install-recommends, or without `apt-get
            update` / list cleanup in the same RUN; `apt`; pip without --no-cache-dir;
            apk without --no-cache; ADD of a plain local file; several CMD/ENTRYPOINT in a
            stage; shell-form ENTRYPOINT; relative WORKDIR; MAINTAINER; `ENV key value`.

A Dockerfile passes when it has no error (with --strict, no warning either). The last
line is `N passed, N failed`; the exit status is 1 when a file failed.

usage: lint_dockerfiles.py [--strict] [--self-test] [--root DIR] [DOCKERFILE...]
A DOCKERFILE given by path is linted with its own folder as the build context.
"""

import argparse
import difflib
import fnmatch
import json
import os
import posixpath
import re
import shlex
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: image.toml keys are simple enough
    tomllib = None

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}
EXEC_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "ADD", "COPY", "VOLUME"}
# Flags the classic builder of Docker 20.10 knows; others need BuildKit.
CLASSIC_FLAGS = {"COPY": {"from", "chown"}, "ADD": {"chown"}, "FROM": {"platform"}, "RUN": set()}
ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz|tar\.zst)$")
HEREDOC = re.compile(r"(?<!<)<<-?\s*['\"]?[A-Za-z_]")
VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class Report:
    def __init__(self, path):
        self.path = path
        self.items = []  # (line, severity, message)

    def error(self, line, msg):
        self.items.append((line, "error", msg))

    def warn(self, line, msg):
        self.items.append((line, "warning", msg))

    @property
    def errors(self):
        return sum(1 for _, s, _ in self.items if s == "error")

    @property
    def warnings(self):
        return sum(1 for _, s, _ in self.items if s == "warning")

    def lines(self):
        for line, sev, msg in sorted(self.items, key=lambda i: (i[0], i[1])):
            yield f"{self.path}:{line}: {sev}: {msg}"


# --- reading -------------------------------------------------------------------------

def logical_lines(text):
    """(first line number, instruction text, escape char), the way the builder joins them."""
    lines = text.splitlines()
    escape = "\\"
    # Parser directives: only at the very top, before any comment, blank or instruction.
    i = 0
    while i < len(lines):
        m = re.fullmatch(r"\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*", lines[i])
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
        i += 1
    out = []
    buf, start = [], None
    for n in range(i, len(lines)):
        raw = lines[n]
        stripped = raw.strip()
        # Comment lines are dropped, even inside a continued instruction.
        if stripped.startswith("#"):
            continue
        if not buf and not stripped:
            continue
        if start is None:
            start = n + 1
        body = raw.rstrip()
        if body.endswith(escape):
            buf.append(body[:-1])
            continue
        buf.append(body)
        out.append((start, "\n".join(buf).strip(), escape))
        buf, start = [], None
    if buf:
        out.append((start, "\n".join(buf).strip(), escape))
    return out


def directives(text):
    found = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*", line)
        if not m:
            break
        found[m.group(1).lower()] = m.group(2)
    return found


def substitute(value, env):
    """Expands $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x}; returns (text, names left unresolved)."""
    missing = []

    def repl(m):
        name = m.group(1) or m.group(3)
        word = m.group(2)
        op = m.group(0)[len(name) + 2:len(name) + 4] if m.group(1) else ""
        val = env.get(name)
        if op.startswith(":+") or op.startswith("+"):
            return word if val else ""
        if val not in (None, ""):
            return val
        if word is not None:
            return word
        if name not in env:
            missing.append(name)
        return ""

    return VAR.sub(repl, value), missing


def split_flags(args):
    """Leading --flag[=value] words of an instruction, and the rest."""
    flags = {}
    rest = args
    while True:
        m = re.match(r"--([a-z-]+)(?:=(\S*))?\s*", rest)
        if not m:
            return flags, rest
        flags[m.group(1)] = m.group(2) if m.group(2) is not None else ""
        rest = rest[m.end():]


def exec_form(args):
    """The JSON list if args is one; None for the shell form; False if it tries and fails."""
    s = args.strip()
    if not s.startswith("["):
        return None
    try:
        value = json.loads(s)
    except ValueError:
        return False
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return False
    return value


def image_ref_problem(ref):
    """Why a base image reference is not pinned to a version, or None."""
    if "@" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"base image `{ref}` has no tag, which means `latest`: pin a version"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        return f"base image `{ref}` uses the `latest` tag: pin a version"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        return f"base image `{ref}` has an invalid tag `{tag}`"
    return None


# --- the build context -----------------------------------------------------------------

class Context:
    """Files of a build context and the .dockerignore rules the engine applies to them."""

    def __init__(self, root):
        self.root = Path(root)
        self.rules = []
        ignore = self.root / ".dockerignore"
        if ignore.is_file():
            for line in ignore.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pat = line[1:].strip() if negate else line
                pat = posixpath.normpath(pat.lstrip("/")) if pat else pat
                if pat in ("", "."):
                    continue
                self.rules.append((negate, self._regex(pat)))
        self.files = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in filenames + dirnames:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                self.files.append(rel.replace(os.sep, "/"))

    @staticmethod
    def _regex(pat):
        # Docker's matching: Go filepath.Match per segment, plus ** for any depth.
        out = ""
        i = 0
        while i < len(pat):
            c = pat[i]
            if pat.startswith("**", i):
                out += ".*"
                i += 2
                if i < len(pat) and pat[i] == "/":
                    i += 1
                    out = out[:-2] + "(.*/)?"
                continue
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                j = pat.find("]", i)
                if j == -1:
                    out += re.escape(c)
                else:
                    cls = pat[i + 1:j].replace("\\", "\\\\")
                    if cls.startswith("^"):
                        cls = "^" + cls[1:]
                    out += f"[{cls}]"
                    i = j
            else:
                out += re.escape(c)
            i += 1
        return re.compile(out + "$")

    def excluded(self, rel):
        """Docker's rule: a pattern matches a path or any folder above it; the last
        matching pattern decides, `!` ones re-including."""
        if rel in ("Dockerfile", ".dockerignore"):
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        state = False
        for negate, rx in self.rules:
            if any(rx.match(p) for p in prefixes):
                state = not negate
        return state

    def match(self, source):
        """Context paths a COPY source names (glob aware), excluded ones apart."""
        pattern = source.rstrip("/") or "."
        if pattern == ".":
            return ["."], []
        hits = [f for f in self.files if self._segments_match(f, pattern)]
        kept = [h for h in hits if not self.excluded(h)]
        return kept, [h for h in hits if h not in kept]

    @staticmethod
    def _segments_match(path, pattern):
        # fnmatch's * crosses '/', Go's does not: compare segment by segment.
        p, q = path.split("/"), pattern.split("/")
        return len(p) == len(q) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(p, q))


# --- the checks -------------------------------------------------------------------------

def lint(dockerfile, context_dir, build_args, display=None):
    rep = Report(display or str(dockerfile))
    try:
        text = Path(dockerfile).read_text()
    except OSError as e:
        rep.error(1, f"cannot read: {e}")
        return rep
    ctx = Context(context_dir) if Path(context_dir).is_dir() else None
    if ctx is None:
        rep.error(1, f"build context {context_dir} is not a folder")

    if "syntax" in directives(text):
        rep.warn(1, "the `# syntax=` directive is ignored by the classic builder the toolkit uses")

    global_args = {}
    stages = []          # stage names (lower case) or None, by index
    stage_env = {}       # ARG/ENV values visible in the current stage
    seen_from = False
    cmd_lines, entry_lines = [], []
    pip_no_cache = False

    def end_stage():
        if len(cmd_lines) > 1:
            rep.warn(cmd_lines[-1], f"several CMD in this stage (lines {', '.join(map(str, cmd_lines))}): only the last counts")
        if len(entry_lines) > 1:
            rep.warn(entry_lines[-1], f"several ENTRYPOINT in this stage (lines {', '.join(map(str, entry_lines))}): only the last counts")
        cmd_lines.clear()
        entry_lines.clear()

    for line, instr, escape in logical_lines(text):
        m = re.match(r"(\S+)\s*(.*)", instr, re.S)
        keyword, args = m.group(1), m.group(2).strip()
        upper = keyword.upper()
        if upper not in INSTRUCTIONS:
            close = difflib.get_close_matches(upper, sorted(INSTRUCTIONS), n=1)
            rep.error(line, f"unknown instruction `{keyword}`" + (f" (did you mean {close[0]}?)" if close else ""))
            continue
        if upper not in ("ARG", "FROM") and not seen_from:
            rep.error(line, f"{upper} before the first FROM: only ARG may come before it")
        if not args and upper not in ("CMD", "ENTRYPOINT"):
            rep.error(line, f"{upper} needs arguments")
            continue

        form = exec_form(args) if upper in EXEC_FORM else None
        if form is False:
            rep.error(line, f"{upper} looks like exec form but is not a JSON list of double-quoted strings; "
                            "Docker would run it through a shell as written")

        if upper == "ARG":
            for decl in shlex.split(args):
                name, _, default = decl.partition("=")
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    rep.error(line, f"ARG name `{name}` is not valid")
                    continue
                value = build_args.get(name, default if "=" in decl else None)
                if not seen_from:
                    global_args[name] = value
                else:
                    # `ARG NAME` in a stage re-imports the global value.
                    stage_env[name] = value if value is not None else global_args.get(name)

        elif upper == "FROM":
            if seen_from:
                end_stage()
            seen_from = True
            flags, rest = split_flags(args)
            for f in flags:
                if f not in CLASSIC_FLAGS["FROM"]:
                    rep.error(line, f"FROM --{f} is not known to the classic builder")
            words = rest.split()
            if not words or len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
                rep.error(line, "FROM takes an image and optionally `AS name`")
                stages.append(None)
                continue
            ref, missing = substitute(words[0], {k: v for k, v in global_args.items() if v is not None})
            name = words[2].lower() if len(words) == 3 else None
            if name is not None:
                if not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
                    rep.error(line, f"stage name `{words[2]}` is not valid")
                if name in stages:
                    rep.error(line, f"stage name `{words[2]}` is used twice")
            if missing:
                rep.error(line, f"FROM `{words[0]}`: {', '.join('$' + x for x in missing)} has no value "
                                "(declare `ARG NAME=default` before the first FROM or set it in image.toml [args])")
            elif ref.lower() in stages or ref == "scratch":
                pass
            else:
                problem = image_ref_problem(ref)
                if problem:
                    rep.error(line, problem)
            stages.append(name)
            stage_env = {}
            pip_no_cache = False

        elif upper in ("COPY", "ADD"):
            flags, rest = split_flags(args)
            for f in flags:
                if f not in CLASSIC_FLAGS[upper]:
                    rep.error(line, f"{upper} --{f} needs BuildKit; the toolkit builds with the classic builder"
                              + (" (set the mode in the build context, or RUN chmod)" if f == "chmod" else ""))
            if HEREDOC.search(rest):
                rep.error(line, f"{upper} heredocs need BuildKit; the toolkit builds with the classic builder")
                continue
            words = form if isinstance(form, list) else shlex.split(rest)
            if len(words) < 2:
                rep.error(line, f"{upper} needs at least one source and a destination")
                continue
            sources = words[:-1]
            src_from = flags.get("from")
            if src_from is not None:
                if src_from.isdigit():
                    if int(src_from) >= len(stages) - 1:
                        rep.error(line, f"COPY --from={src_from}: there is no earlier stage {src_from}")
                elif src_from.lower() not in stages:
                    problem = image_ref_problem(substitute(src_from, {**global_args, **stage_env})[0])
                    if problem:
                        rep.error(line, f"COPY --from: {problem}")
                continue
            for src in sources:
                if re.match(r"[a-z]+://|git@", src):
                    if upper == "ADD":
                        rep.error(line, f"ADD of a URL ({src}): download in a RUN step with a checksum check, "
                                        "so the build is reproducible and its cache honest")
                    else:
                        rep.error(line, f"COPY cannot fetch a URL ({src})")
                    continue
                expanded, missing = substitute(src, {k: v for k, v in {**global_args, **stage_env}.items() if v is not None})
                if missing:
                    rep.warn(line, f"{upper} source `{src}`: cannot resolve {', '.join(missing)}; not checked")
                    continue
                norm = posixpath.normpath(expanded.lstrip("/")) if expanded.strip("/") else "."
                if norm == ".." or norm.startswith("../"):
                    rep.error(line, f"{upper} source `{src}` is outside the build context")
                    continue
                if ctx is None:
                    continue
                kept, excluded = ctx.match(norm)
                if not kept and excluded:
                    rep.error(line, f"{upper} source `{src}` is excluded by the context's .dockerignore")
                elif not kept:
                    rep.error(line, f"{upper} source `{src}` is not in the build context ({ctx.root})")
                elif upper == "ADD" and not any(ARCHIVE.search(k) for k in kept):
                    rep.warn(line, f"ADD of a plain file (`{src}`): use COPY; ADD also unpacks archives")

        elif upper == "RUN":
            flags, rest = split_flags(args)
            for f in flags:
                rep.error(line, f"RUN --{f} needs BuildKit; the toolkit builds with the classic builder")
            # The classic builder joins continued lines: a heredoc body cannot follow.
            if form is None and HEREDOC.search(rest):
                rep.error(line, "RUN heredocs need BuildKit; the toolkit builds with the classic builder")
            script = " ".join(form) if isinstance(form, list) else rest
            check_run(rep, line, script, pip_no_cache)

        elif upper in ("CMD", "ENTRYPOINT"):
            (cmd_lines if upper == "CMD" else entry_lines).append(line)
            if upper == "ENTRYPOINT" and form is None and args:
                rep.warn(line, "shell-form ENTRYPOINT runs under /bin/sh -c: the program does not get signals "
                               "and ignores CMD and Argo's args; use the JSON form")

        elif upper == "SHELL":
            if form is None:
                rep.error(line, "SHELL must be written as a JSON list")

        elif upper == "ENV":
            pairs = env_pairs(args)
            if pairs is None:
                rep.warn(line, "`ENV key value` is the legacy form: write ENV key=value")
                parts = args.split(None, 1)
                pairs = {parts[0]: parts[1] if len(parts) > 1 else ""}
            for k, v in pairs.items():
                stage_env[k] = substitute(v, {**global_args, **stage_env})[0]
                if k == "PIP_NO_CACHE_DIR" and v.lower() in ("1", "true", "on", "off", "0", "false"):
                    # pip treats any value of PIP_NO_CACHE_DIR as "no cache" (historical quirk).
                    pip_no_cache = True

        elif upper == "LABEL":
            if env_pairs(args) is None:
                rep.warn(line, "`LABEL key value` without `=`: write LABEL key=value")

        elif upper == "WORKDIR":
            path = substitute(args, {**global_args, **stage_env})[0]
            if not path.startswith("/"):
                rep.warn(line, f"relative WORKDIR `{args}` depends on the previous one: use an absolute path")

        elif upper == "EXPOSE":
            for port in args.split():
                if not re.fullmatch(r"\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?", port) and "$" not in port:
                    rep.error(line, f"EXPOSE `{port}` is not a port (NUMBER[/tcp|udp])")

        elif upper == "MAINTAINER":
            rep.warn(line, "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=...")

    if not seen_from:
        rep.error(1, "no FROM instruction")
    else:
        end_stage()
    return rep


def env_pairs(args):
    """key=value pairs of ENV/LABEL, or None for the legacy `key value` form."""
    try:
        words = shlex.split(args, posix=True)
    except ValueError:
        return {}
    if not words or "=" not in words[0]:
        return None
    pairs = {}
    for w in words:
        if "=" not in w:
            return None
        k, v = w.split("=", 1)
        pairs[k] = v
    return pairs


def check_run(rep, line, script, pip_no_cache):
    # Split on shell separators; enough to find the commands that matter here.
    commands = [c.strip() for c in re.split(r"&&|\|\||;|\||\n", script) if c.strip()]
    words_of = []
    for c in commands:
        try:
            w = shlex.split(c, comments=True)
        except ValueError:
            w = c.split()
        # Skip leading VAR=value assignments and wrappers.
        while w and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w[0]) or w[0] in ("sudo", "exec", "env", "then", "do", "else", "(", "{")):
            if w[0] == "sudo":
                rep.warn(line, "sudo in RUN: build steps already run as the image's user; use USER")
            w = w[1:]
        words_of.append(w)

    installs = [w for w in words_of if w[:1] == ["apt-get"] and "install" in w[1:]]
    updates = [w for w in words_of if w[:1] == ["apt-get"] and "update" in w[1:]]
    for w in installs:
        flags = [x for x in w[1:] if x.startswith("-")]
        yes = any(f in ("--yes", "--assume-yes", "-y") or (re.fullmatch(r"-[a-z]+", f) and "y" in f) for f in flags)
        if not yes:
            rep.error(line, "`apt-get install` without -y: the build stops at the confirmation prompt")
        if "--no-install-recommends" not in flags:
            rep.warn(line, "`apt-get install` without --no-install-recommends pulls packages nobody asked for")
    if installs and not updates:
        rep.warn(line, "`apt-get install` without `apt-get update` in the same RUN installs from a stale, cached list")
    if updates and not installs:
        rep.warn(line, "`apt-get update` alone in a RUN: its cached layer goes stale; update and install together")
    if installs and not re.search(r"rm\s+-[a-z]*r[a-z]*f?\s+/var/lib/apt/lists|rm\s+-[a-z]*f[a-z]*r\s+/var/lib/apt/lists", script):
        rep.warn(line, "the apt lists stay in the layer: end the RUN with `rm -rf /var/lib/apt/lists/*`")
    for w in words_of:
        if w[:1] == ["apt"]:
            rep.warn(line, "`apt` has no stable command-line interface for scripts: use apt-get")
        if w[:1] == ["apt-get"] and any(x in ("upgrade", "dist-upgrade") for x in w[1:]):
            rep.warn(line, "apt-get upgrade in a build: the result depends on the build day; pin a newer base instead")
        if w[:1] == ["apk"] and "add" in w[1:] and "--no-cache" not in w:
            rep.warn(line, "`apk add` without --no-cache leaves the index in the layer")
        pip = (w and re.fullmatch(r"(.*/)?pip[0-9.]*", w[0])) or (
            len(w) >= 3 and re.fullmatch(r"(.*/)?python[0-9.]*", w[0]) and w[1:3] == ["-m", "pip"])
        if pip:
            if "install" in w and "--no-cache-dir" not in w and not pip_no_cache:
                rep.warn(line, "`pip install` without --no-cache-dir keeps the download cache in the layer")


# --- discovery and main -----------------------------------------------------------------

def read_image_toml(path):
    if not path.is_file():
        return {}
    text = path.read_text()
    if tomllib is not None:
        return tomllib.loads(text)
    data, section = {}, None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            data.setdefault(section, {})
            continue
        k, _, v = line.partition("=")
        (data[section] if section else data)[k.strip()] = v.strip().strip('"')
    return data


def discover(root):
    """(Dockerfile, context, build args, display path) for each image of containers/."""
    containers = root / "containers"
    found = []
    if not containers.is_dir():
        return found
    for d in sorted(p for p in containers.iterdir() if p.is_dir() and not p.name.startswith(".")):
        toml = read_image_toml(d / "image.toml")
        dockerfile = d / toml.get("dockerfile", "Dockerfile")
        if not (d / "image.toml").is_file() and not dockerfile.is_file():
            continue  # shared material, not an image
        context = d / toml.get("context", ".")
        args = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in toml.get("args", {}).items()}
        found.append((dockerfile, context, args, os.path.relpath(dockerfile, Path.cwd())))
    return found


def run(targets, strict):
    passed = failed = 0
    for dockerfile, context, args, shown in targets:
        rep = lint(dockerfile, context, args, shown)
        for line in rep.lines():
            print(line)
        if rep.errors or (strict and rep.warnings):
            failed += 1
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def self_test():
    """Each sample must produce exactly the listed findings (as message fragments)."""
    samples = [
        ("good", "ARG B=python:3.11-slim\nFROM ${B} AS base\nCOPY app.py /app/\n"
                 "RUN apt-get update \\\n && apt-get install -y --no-install-recommends curl \\\n"
                 " && rm -rf /var/lib/apt/lists/*\nFROM base\nCOPY --from=base /app /app\n"
                 "ENTRYPOINT [\"python\", \"/app/app.py\"]\n", [], {}),
        ("latest", "FROM ubuntu:latest\nFROM debian\n", ["error: base image `ubuntu:latest`", "error: base image `debian` has no tag"], {}),
        ("unknown", "FROM a:1\nRUNN echo\n", ["error: unknown instruction `RUNN` (did you mean RUN?)"], {}),
        ("before-from", "LABEL a=b\nFROM a:1\n", ["error: LABEL before the first FROM"], {}),
        ("arg", "FROM ${IMG}\n", ["error: FROM `${IMG}`: $IMG has no value"], {}),
        ("arg-from-toml", "ARG IMG\nFROM ${IMG}\n", [], {"IMG": "alpine:3.20"}),
        ("missing", "FROM a:1\nCOPY nope.sh /x\n", ["error: COPY source `nope.sh` is not in the build context"], {}),
        ("ignored", "FROM a:1\nCOPY secret.txt /x\n", ["error: COPY source `secret.txt` is excluded"], {}),
        ("outside", "FROM a:1\nCOPY ../x /x\n", ["error: COPY source `../x` is outside"], {}),
        ("url", "FROM a:1\nADD https://example.org/x.tgz /x\n", ["error: ADD of a URL"], {}),
        ("apt", "FROM a:1\nRUN apt-get update && apt-get install curl\n",
         ["error: `apt-get install` without -y", "warning: `apt-get install` without --no-install-recommends",
          "warning: the apt lists stay"], {}),
        ("apt-qy", "FROM a:1\nRUN apt-get update && apt-get install -qy --no-install-recommends x && rm -rf /var/lib/apt/lists/*\n", [], {}),
        ("json", "FROM a:1\nCMD ['a', 'b']\n", ["error: CMD looks like exec form"], {}),
        ("buildkit", "FROM a:1\nCOPY --chmod=755 app.py /x\nRUN --mount=type=cache,target=/c true\n",
         ["error: COPY --chmod needs BuildKit", "error: RUN --mount needs BuildKit"], {}),
        ("glob", "FROM a:1\nCOPY *.py /app/\nCOPY sub/*.txt /app/\n", [], {}),
        ("no-from", "ARG X=1\n", ["error: no FROM instruction"], {}),
        ("stage-index", "FROM a:1\nCOPY --from=3 /x /y\n", ["error: COPY --from=3"], {}),
        ("pip", "FROM a:1\nRUN pip install x\n", ["warning: `pip install` without --no-cache-dir"], {}),
        ("continuation-comment", "FROM a:1\nRUN echo a \\\n# a comment inside\n && echo b\n", [], {}),
    ]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        (ctx / "app.py").write_text("print(1)\n")
        (ctx / "secret.txt").write_text("x\n")
        (ctx / "sub").mkdir()
        (ctx / "sub" / "a.txt").write_text("x\n")
        (ctx / ".dockerignore").write_text("*.txt\n!sub/*.txt\n")
        for name, text, expected, args in samples:
            (ctx / "Dockerfile").write_text(text)
            rep = lint(ctx / "Dockerfile", ctx, args, name)
            got = [f"{sev}: {msg}" for _, sev, msg in rep.items]
            missing = [e for e in expected if not any(g.startswith(e) for g in got)]
            extra = [g for g in got if not any(g.startswith(e) for e in expected)]
            if missing or extra:
                bad += 1
                print(f"FAIL self-test {name}: missing {missing}, unexpected {extra}")
            else:
                print(f"ok   self-test {name}")
    print(f"{len(samples) - bad} passed, {bad} failed")
    return 1 if bad else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dockerfiles", nargs="*", type=Path, help="Dockerfiles to lint (default: every image of containers/)")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                   help="repository root (default: the parent of tests/)")
    p.add_argument("--strict", action="store_true", help="warnings fail a file too")
    p.add_argument("--self-test", action="store_true", help="check the linter against built-in samples")
    args = p.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.dockerfiles:
        targets = [(f, f.parent, {}, str(f)) for f in args.dockerfiles]
    else:
        targets = discover(args.root)
        if not targets:
            print(f"no image folder under {args.root / 'containers'}")
    return run(targets, args.strict)


if __name__ == "__main__":
    sys.exit(main())
