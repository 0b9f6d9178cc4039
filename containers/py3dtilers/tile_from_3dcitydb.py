#!/usr/bin/env python3
"""Run py3dtilers' citygml-tiler against a 3DCityDB database given by environment variables.

citygml-tiler reads its connection from a YAML file; workflows know the database only at
run time (the daemon step's IP), so this writes that file from PG_HOST, PG_PORT, PG_NAME,
PG_USER and PG_PASSWORD (or PG_PASSWORD_FILE) in a private temporary folder, outside the
shared volume, and then runs the tiler. Arguments after `--` go to citygml-tiler as is.

Exit codes: the tiler's, or 2 for a missing setting.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def setting(name, default=None):
    value = os.environ.get(name, default)
    if value in (None, ""):
        print(f"tile-from-3dcitydb: {name} is not set", file=sys.stderr)
        sys.exit(2)
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(prog="tile-from-3dcitydb", description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", required=True, type=Path, help="folder for tileset.json and tiles/")
    p.add_argument("--type", default="building", choices=["building", "relief", "water", "bridge"],
                   help="city objects to tile (default building)")
    args = p.parse_args(argv)

    password = os.environ.get("PG_PASSWORD")
    if not password and os.environ.get("PG_PASSWORD_FILE"):
        password = Path(os.environ["PG_PASSWORD_FILE"]).read_text().strip()
    config = {
        "PG_HOST": setting("PG_HOST"),
        "PG_PORT": int(setting("PG_PORT", "5432")),
        "PG_NAME": setting("PG_NAME"),
        "PG_USER": setting("PG_USER"),
        "PG_PASSWORD": password or setting("PG_PASSWORD"),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiler-") as tmp:
        cfg = Path(tmp) / "CityTilerDBConfig.yml"
        # JSON is valid YAML and quotes every value safely.
        cfg.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in config.items()))
        cfg.chmod(0o600)
        cmd = ["citygml-tiler", "--db_config_path", str(cfg), "--type", args.type,
               "-o", str(args.output_dir), *extra]
        print(f"tile-from-3dcitydb: {config['PG_USER']}@{config['PG_HOST']}:{config['PG_PORT']}/"
              f"{config['PG_NAME']} -> {args.output_dir}", file=sys.stderr, flush=True)
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
