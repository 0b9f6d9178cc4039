#!/usr/bin/env python3
"""Offline tests of the experiment's own scripts (containers/*/*.py), run on the host.

CI cannot build those images (their bases come from Docker Hub), so their scripts are
tested here against a local HTTP server that also plays the proxy: downloads, retries,
proxy and NO_PROXY handling, archive safety, the CityGML stripper and the network check.
The last line is `N passed, N failed`; the exit status is 1 when a test failed.
"""

import http.server
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECT = ROOT / "containers/collect_lyon_data/collect_lyon_data.py"
STRIPPER = ROOT / "containers/citygml2stripper/citygml2stripper.py"
CHECK = ROOT / "containers/iphttpcheck/iphttpcheck.py"

CITYGML = """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0"
    xmlns:bldg="http://www.opengis.net/citygml/building/2.0"
    xmlns:gen="http://www.opengis.net/citygml/generics/2.0"
    xmlns:app="http://www.opengis.net/citygml/appearance/2.0"
    xmlns:gml="http://www.opengis.net/gml">
  <app:appearanceMember><app:Appearance><app:theme>rgb</app:theme></app:Appearance></app:appearanceMember>
  <core:cityObjectMember>
    <bldg:Building gml:id="B1">
      <gen:stringAttribute name="a"><gen:value>x</gen:value></gen:stringAttribute>
      <gen:genericAttributeSet name="s">
        <gen:intAttribute name="b"><gen:value>1</gen:value></gen:intAttribute>
      </gen:genericAttributeSet>
      <bldg:measuredHeight uom="m">12.0</bldg:measuredHeight>
      <bldg:consistsOfBuildingPart><bldg:BuildingPart gml:id="P1"/></bldg:consistsOfBuildingPart>
    </bldg:Building>
  </core:cityObjectMember>
</core:CityModel>
"""


def make_zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


class Server:
    """A local HTTP server answering from a queue of (status, body) per path; it records
    the request lines, so a test can tell a proxied request (absolute URI) from a direct one."""

    def __init__(self):
        self.plan = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                path = self.path.split("://", 1)[-1]
                path = "/" + path.split("/", 1)[1] if "://" in self.path else path
                queue = outer.plan.get(path, [(404, b"not found")])
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run(script, *args, env=None):
    base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    base.update(env or {})
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=base, timeout=60)


class Collect(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.tmp = tempfile.TemporaryDirectory()
        self.out = Path(self.tmp.name) / "stage_1/2009/LYON_1ER_2009"
        self.url = f"http://127.0.0.1:{self.server.port}/files/{{vintage}}/{{borough}}_{{vintage}}.zip"
        self.path = "/files/2009/LYON_1ER_2009.zip"
        self.archive = make_zip({
            "LYON_1ER_2009/LYON_1ER_BATI_2009.gml": CITYGML,
            "LYON_1ER_2009/LYON_1ER_PONT_2009.gml": CITYGML,
        })

    def tearDown(self):
        self.server.close()
        self.tmp.cleanup()

    def collect(self, *extra, env=None, url=None):
        return run(COLLECT, "--borough", "LYON_1ER", "--vintage", "2009", "--output-dir", str(self.out),
                   "--url-template", url or self.url, "--backoff", "0.01", *extra, env=env)

    def test_unpacks_and_lists(self):
        self.server.plan[self.path] = [(200, self.archive)]
        r = self.collect()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue((self.out / "LYON_1ER_BATI_2009.gml").is_file())
        listed = (self.out / "files.txt").read_text().split()
        self.assertIn("LYON_1ER_BATI_2009.gml", listed)
        self.assertIn("LYON_1ER_2009/LYON_1ER_PONT_2009.gml", listed)
        self.assertEqual(json.loads(r.stdout)["citygml"], "LYON_1ER_BATI_2009.gml")
        self.assertFalse(any(p.name.endswith((".zip", ".part")) for p in self.out.rglob("*")))

    def test_retries_transient_errors(self):
        self.server.plan[self.path] = [(503, b"busy"), (200, b"<html>proxy error</html>"), (200, self.archive)]
        r = self.collect()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.server.requests), 3)
        self.assertIn("retrying", r.stderr)

    def test_gives_up_after_attempts(self):
        self.server.plan[self.path] = [(502, b"bad gateway")]
        r = self.collect("--attempts", "3")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(self.server.requests), 3)
        self.assertIn("giving up", r.stderr)

    def test_404_is_not_retried(self):
        r = self.collect()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(self.server.requests), 1)
        self.assertIn("404", r.stderr)

    def test_goes_through_the_proxy(self):
        self.server.plan[self.path] = [(200, self.archive)]
        url = "http://portal.invalid/files/{vintage}/{borough}_{vintage}.zip"
        r = self.collect(url=url, env={"http_proxy": f"http://127.0.0.1:{self.server.port}"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.server.requests[0].startswith("http://portal.invalid/"), self.server.requests)

    def test_no_proxy_is_honoured(self):
        self.server.plan[self.path] = [(200, self.archive)]
        r = self.collect(env={"http_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.server.requests, [self.path])

    def test_refuses_paths_outside(self):
        self.server.plan[self.path] = [(200, make_zip({"../evil.gml": "x", "LYON_1ER_BATI_2009.gml": CITYGML}))]
        r = self.collect()
        self.assertEqual(r.returncode, 1)
        self.assertFalse((self.out.parent / "evil.gml").exists())
        self.assertIn("outside", r.stderr)

    def test_missing_building_file(self):
        self.server.plan[self.path] = [(200, make_zip({"other.gml": CITYGML}))]
        r = self.collect()
        self.assertEqual(r.returncode, 1)
        self.assertIn("LYON_1ER_BATI_2009.gml is not in the archive", r.stderr)

    def test_bad_arguments(self):
        r = run(COLLECT, "--borough", "lyon 1er", "--vintage", "2009", "--output-dir", str(self.out))
        self.assertEqual(r.returncode, 2)


class Stripper(unittest.TestCase):
    def test_strips_and_keeps_prefixes(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.gml", Path(tmp) / "out/x.gml"
            src.write_text(CITYGML)
            r = run(STRIPPER, "--input", str(src), "--output", str(dst), "--remove-building-parts")
            self.assertEqual(r.returncode, 0, r.stderr)
            removed = json.loads(r.stdout)["removed"]
            self.assertEqual(removed, {"generic attributes": 2, "appearances": 1, "building parts": 1})
            text = dst.read_text()
            self.assertIn("<core:CityModel", text)
            self.assertIn("<bldg:measuredHeight", text)
            for gone in ("gen:", "app:", "BuildingPart"):
                self.assertNotIn(gone, text)

    def test_keeps_appearances_on_request(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.gml", Path(tmp) / "out.gml"
            src.write_text(CITYGML)
            r = run(STRIPPER, "--input", str(src), "--output", str(dst), "--keep-appearances")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("app:Appearance", dst.read_text())
            self.assertIn("BuildingPart", dst.read_text())

    def test_bad_xml(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.gml"
            src.write_text("<a><b></a>")
            r = run(STRIPPER, "--input", str(src), "--output", str(Path(tmp) / "o.gml"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("not well-formed", r.stderr)


class NetworkCheck(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.server.plan["/"] = [(200, b"hello")]

    def tearDown(self):
        self.server.close()

    def test_direct(self):
        r = run(CHECK, "--url", f"http://127.0.0.1:{self.server.port}/", "--timeout", "5")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(r.stdout.strip().endswith("3 passed, 0 failed"), r.stdout)

    def test_through_proxy_with_credentials_hidden(self):
        r = run(CHECK, "--url", "http://portal.invalid/", "--timeout", "5",
                env={"http_proxy": f"http://user:secret@127.0.0.1:{self.server.port}"})
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("warn dns portal.invalid", r.stdout)
        self.assertNotIn("secret", r.stdout)

    def test_dead_proxy_fails(self):
        r = run(CHECK, "--url", "http://portal.invalid/", "--timeout", "2",
                env={"http_proxy": "http://127.0.0.1:9"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("FAIL tcp 127.0.0.1:9", r.stdout)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
