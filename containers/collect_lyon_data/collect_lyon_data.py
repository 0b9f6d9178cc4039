#!/usr/bin/env python3
"""Download one borough's 3D model for one vintage from the Grand Lyon open data portal.

The archive is fetched (with retries and exponential backoff, through the proxy named by
HTTP(S)_PROXY / NO_PROXY when set), checked, and unpacked into the output folder; the
building file `<BOROUGH>_<PATTERN>_<VINTAGE>.gml` is put at the top of that folder, and
`files.txt` lists every file produced (one path a line, relative to the output folder).

Exit codes: 0 done, 1 download or archive failure, 2 bad arguments.
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

DEFAULT_URL = (
    "https://download.data.grandlyon.com/files/grandlyon/imagerie/"
    "{vintage}/maquette/{borough}_{vintage}.zip"
)
# Statuses worth another try: the server or a proxy on the way is busy or failing.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 20


class Permanent(Exception):
    """A failure that retrying cannot fix (404, wrong content...)."""


def log(msg):
    print(f"collect-lyon-data: {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="collect-lyon-data",
        description="Download and unpack one borough of Lyon's CityGML model for one vintage.",
    )
    p.add_argument("--borough", required=True, help="e.g. LYON_1ER, VILLEURBANNE")
    p.add_argument("--vintage", required=True, help="year of the data, e.g. 2009")
    p.add_argument("--output-dir", required=True, type=Path,
                   help="folder receiving the unpacked files (created if missing)")
    p.add_argument("--pattern", default="BATI",
                   help="theme of the file to extract at the top: BATI (buildings, default), PONT, EAU...")
    p.add_argument("--url-template", default=os.environ.get("COLLECT_URL_TEMPLATE", DEFAULT_URL),
                   help="archive URL with {borough} and {vintage} (default: the Grand Lyon portal)")
    p.add_argument("--attempts", type=int, default=6, help="download attempts before giving up (default 6)")
    p.add_argument("--backoff", type=float, default=2.0,
                   help="first wait between attempts in seconds, doubled each time (default 2)")
    p.add_argument("--max-backoff", type=float, default=120.0, help="longest wait (default 120 s)")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds (default 60)")
    p.add_argument("--keep-archive", action="store_true", help="keep the downloaded zip in the output folder")
    p.add_argument("--force", action="store_true", help="download again even if a valid archive is there")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_]*", args.borough):
        p.error(f"--borough {args.borough!r}: use the portal's upper-case name, e.g. LYON_1ER")
    if not re.fullmatch(r"(19|20)\d\d", args.vintage):
        p.error(f"--vintage {args.vintage!r}: expected a year such as 2009")
    if not re.fullmatch(r"[A-Z]+", args.pattern):
        p.error(f"--pattern {args.pattern!r}: expected an upper-case theme such as BATI")
    if args.attempts < 1:
        p.error("--attempts must be at least 1")
    return args


def proxy_summary(url):
    """Which proxy urllib will use for url, credentials hidden."""
    proxies = urllib.request.getproxies()
    host = urllib.request.urlparse(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return "none (host matches NO_PROXY)"
    proxy = proxies.get(urllib.request.urlparse(url).scheme)
    if not proxy:
        return "none"
    return re.sub(r"//[^/@]*@", "//***@", proxy)


def download(url, dest, args):
    """Fetches url into dest, retrying what may be transient."""
    # build_opener's default ProxyHandler reads the *_proxy environment variables.
    opener = urllib.request.build_opener()
    opener.addheaders = [("User-Agent", "vcity-collect-lyon-data/1.0")]
    wait = args.backoff
    for attempt in range(1, args.attempts + 1):
        part = dest.with_name(dest.name + ".part")
        try:
            with opener.open(url, timeout=args.timeout) as resp, open(part, "wb") as out:
                expected = resp.headers.get("Content-Length")
                got = 0
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    got += len(chunk)
            if expected is not None and got != int(expected):
                raise OSError(f"connection closed after {got} of {expected} bytes")
            if not zipfile.is_zipfile(part):
                head = part.read_bytes()[:200]
                if b"<html" in head.lower():
                    # A proxy or portal error page served with status 200.
                    raise OSError("received an HTML page instead of a zip archive")
                raise OSError("the downloaded file is not a zip archive")
            part.replace(dest)
            log(f"downloaded {got} bytes in attempt {attempt}")
            return
        except urllib.error.HTTPError as e:
            if e.code not in RETRYABLE_STATUS:
                hint = " (no such borough or vintage on the portal?)" if e.code == 404 else ""
                raise Permanent(f"HTTP {e.code} {e.reason} for {url}{hint}") from e
            reason = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = str(getattr(e, "reason", e))
        finally:
            # After a success the part file has been renamed; anything left is partial.
            part.unlink(missing_ok=True)
        if attempt == args.attempts:
            raise OSError(f"giving up on {url} after {attempt} attempts: {reason}")
        # Full jitter keeps parallel boroughs from retrying in step against the portal.
        delay = random.uniform(wait / 2, wait)
        log(f"attempt {attempt}/{args.attempts} failed: {reason}; retrying in {delay:.1f} s")
        time.sleep(delay)
        wait = min(wait * 2, args.max_backoff)


def safe_members(archive, target):
    """The archive's members, refusing any that would land outside target."""
    root = target.resolve()
    for info in archive.infolist():
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts:
            raise Permanent(f"archive member {info.filename!r} points outside the output folder")
        if not (root / name).resolve().is_relative_to(root):
            raise Permanent(f"archive member {info.filename!r} points outside the output folder")
        yield info


def unpack(zip_path, out_dir, wanted_name):
    with zipfile.ZipFile(zip_path) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise OSError(f"corrupt archive member {bad}")
        # Unpack aside, then move in: a failed run leaves no half-written tree.
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".unpack-") as tmp:
            tmp = Path(tmp)
            for info in safe_members(archive, tmp):
                archive.extract(info, tmp)
            candidates = [p for p in tmp.rglob("*") if p.is_file() and p.name.lower() == wanted_name.lower()]
            if not candidates:
                gml = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*.gml"))
                raise Permanent(f"{wanted_name} is not in the archive; its .gml files: {gml or 'none'}")
            # The tools downstream expect the file at the top, under its canonical name.
            top = tmp / wanted_name
            if candidates[0] != top:
                candidates[0].replace(top)
            for item in tmp.iterdir():
                dest = out_dir / item.name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                elif dest.exists() or dest.is_symlink():
                    dest.unlink()
                item.replace(dest)
            produced = sorted(
                str(p.relative_to(out_dir)) for p in out_dir.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
    return produced


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None):
    args = parse_args(argv)
    url = args.url_template.format(borough=args.borough, vintage=args.vintage)
    wanted = f"{args.borough}_{args.pattern}_{args.vintage}.gml"
    out_dir = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f".{args.borough}_{args.vintage}.zip"

    log(f"{args.borough} {args.vintage}: {url} (proxy: {proxy_summary(url)})")
    try:
        if args.force or not (zip_path.exists() and zipfile.is_zipfile(zip_path)):
            download(url, zip_path, args)
        else:
            log(f"reusing {zip_path} from an earlier attempt")
        produced = unpack(zip_path, out_dir, wanted)
    except Permanent as e:
        log(f"error: {e}")
        return 1
    except (OSError, zipfile.BadZipFile) as e:
        log(f"error: {e}")
        # A broken archive must not be reused by the next retry.
        zip_path.unlink(missing_ok=True)
        return 1

    digest = sha256(zip_path)
    if args.keep_archive:
        kept = out_dir / f"{args.borough}_{args.vintage}.zip"
        zip_path.replace(kept)
        produced.append(kept.name)
    else:
        zip_path.unlink()
    produced = sorted(set(produced) - {"files.txt"})
    (out_dir / "files.txt").write_text("".join(f"{p}\n" for p in produced))
    # One JSON line on stdout, for logs and for Argo output parameters if wanted.
    print(json.dumps({
        "borough": args.borough,
        "vintage": args.vintage,
        "url": url,
        "archive_sha256": digest,
        "output_dir": str(out_dir),
        "citygml": wanted,
        "files": produced,
    }))
    log(f"{len(produced)} files in {out_dir}; buildings in {wanted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
