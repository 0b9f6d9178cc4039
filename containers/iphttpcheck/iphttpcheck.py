#!/usr/bin/env python3
"""Check a pod's way out to the internet, step by step, so a failure says which step.

1. DNS: the target host (and the proxy host, when one applies) resolve.
2. TCP: a socket opens to the first hop: the proxy when one applies, else the target.
3. HTTPS: a GET of the URL, through the proxy named by HTTPS_PROXY / NO_PROXY, answers.

Each check prints one line (ok/warn/FAIL, what, detail, time); the last line sums up.
Exit codes: 0 every check passed, 1 a check failed, 2 bad arguments.
"""

import argparse
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "https://download.data.grandlyon.com/"


def hide_credentials(url):
    return re.sub(r"//[^/@]*@", "//***@", url)


def proxy_for(url):
    """The proxy URL urllib will use for url, or None (NO_PROXY and scheme considered)."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def host_port(url, default_port):
    parts = urllib.parse.urlsplit(url if "//" in url else "//" + url)
    return parts.hostname, parts.port or default_port


class Report:
    def __init__(self):
        self.failed = 0
        self.warned = 0
        self.total = 0

    def run(self, what, check, required=True):
        self.total += 1
        start = time.monotonic()
        try:
            detail = check()
            ok = True
        except Exception as e:  # every failure is a finding here, not a crash
            detail = f"{type(e).__name__}: {e}"
            ok = False
        elapsed = time.monotonic() - start
        mark = "ok  "
        if not ok and required:
            self.failed += 1
            mark = "FAIL"
        elif not ok:
            self.warned += 1
            mark = "warn"
        print(f"{mark} {what}: {detail} ({elapsed:.2f} s)", flush=True)
        return ok


def check_dns(host):
    def run():
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        addrs = sorted({i[4][0] for i in infos})
        return ", ".join(addrs)
    return run


def check_tcp(host, port, timeout):
    def run():
        with socket.create_connection((host, port), timeout=timeout) as s:
            return f"connected from {s.getsockname()[0]} to {s.getpeername()[0]}:{port}"
    return run


def check_https(url, timeout, insecure):
    def run():
        ctx = ssl.create_default_context()
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        # ProxyHandler() with no argument reads the *_proxy environment variables.
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(context=ctx)
        )
        req = urllib.request.Request(url, headers={"User-Agent": "vcity-iphttpcheck/1.0"})
        try:
            with opener.open(req, timeout=timeout) as resp:
                body = resp.read(4096)
                return f"HTTP {resp.status}, {len(body)}+ bytes"
        except urllib.error.HTTPError as e:
            # An HTTP answer, even 404, proves the path works; 407 means the proxy wants
            # credentials, 5xx a broken server or proxy.
            if e.code == 407 or e.code >= 500:
                raise
            return f"HTTP {e.code} (the server answered)"
    return run


def parse_args(argv):
    p = argparse.ArgumentParser(prog="iphttpcheck", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("CHECK_URL", DEFAULT_URL),
                   help=f"URL to GET (default {DEFAULT_URL}, or $CHECK_URL)")
    p.add_argument("--dns", action="append", default=[], metavar="HOST",
                   help="extra host name to resolve (repeatable)")
    p.add_argument("--tcp", action="append", default=[], metavar="HOST:PORT",
                   help="extra TCP endpoint to open (repeatable)")
    p.add_argument("--timeout", type=float, default=10.0, help="per check, seconds (default 10)")
    p.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    args = p.parse_args(argv)
    if urllib.parse.urlsplit(args.url).scheme not in ("http", "https"):
        p.error(f"--url {args.url!r}: expected http:// or https://")
    for t in args.tcp:
        if not re.fullmatch(r"[^:\s]+:\d{1,5}", t):
            p.error(f"--tcp {t!r}: expected HOST:PORT")
    return args


def main(argv=None):
    args = parse_args(argv)
    url = args.url
    target_host, target_port = host_port(url, 443 if url.startswith("https") else 80)
    proxy = proxy_for(url)

    print(f"target: {url}")
    print(f"proxy:  {hide_credentials(proxy) if proxy else 'none (direct connection)'}")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        if name in os.environ:
            print(f"        {name}={hide_credentials(os.environ[name])}")

    report = Report()
    hosts = [target_host] + args.dns
    first_hop = (target_host, target_port)
    if proxy:
        first_hop = host_port(proxy, 3128 if proxy.startswith("http:") else 443)
        hosts.insert(1, first_hop[0])
    for host in dict.fromkeys(hosts):
        # Behind a proxy the pod need not resolve the target itself: the proxy does.
        required = not (proxy and host == target_host)
        report.run(f"dns {host}", check_dns(host), required)
    endpoints = [first_hop] + [(h, int(p)) for h, p in (t.rsplit(":", 1) for t in args.tcp)]
    for host, port in dict.fromkeys(endpoints):
        report.run(f"tcp {host}:{port}", check_tcp(host, port, args.timeout))
    report.run(f"{'https' if url.startswith('https') else 'http'} GET {url}",
               check_https(url, args.timeout, args.insecure))

    passed = report.total - report.failed - report.warned
    warned = f", {report.warned} warning(s)" if report.warned else ""
    print(f"{passed} passed, {report.failed} failed{warned}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
