#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run through check/quiet/fails, which shellcheck cannot follow
# End-to-end test of the offline demo (containers/demo-*, workflows/demo.yaml) with the
# docker CLI alone: builds the four images from the local base, runs the chain
# collect -> split -> strip -> tile for 2 boroughs × 2 vintages with the volume layout of
# the workflow, and checks the tree it leaves. No network: containers run with
# --network none, the base image is local (tests/stack/up makes stack/busybox:1).
#
# Environment: BASE_IMAGE (default stack/busybox:1), KEEP=1 keeps the work folder.
# The last line is "N passed, N failed"; the exit status is 1 when something failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BASE_IMAGE=${BASE_IMAGE:-stack/busybox:1}
PREFIX=xtask-test
TAG=demo
BOROUGHS=(LYON_1ER LYON_8EME)
VINTAGES=(2009 2012)
STAGES=(collect split strip tile)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
ko() { failed=$((failed + 1)); echo "FAIL $*"; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else ko "$what"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  if ((failed > 0)); then exit 1; fi
  exit 0
}

work=$(mktemp -d "${TMPDIR:-/tmp}/demo-pipeline.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
  echo "work folder: $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
data=$work/data
mkdir -p "$data"

# Prerequisites: without them nothing below can mean anything.
if ! docker info >/dev/null 2>&1; then
  ko "docker engine reachable (start it, e.g. tests/stack/up --without-cluster)"
  finish
fi
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  ko "base image $BASE_IMAGE present (tests/stack/up makes it; nothing can be pulled here)"
  finish
fi
if ! command -v python3 >/dev/null; then
  ko "python3 available (the tree checks use it)"
  finish
fi

image() { echo "$PREFIX/demo-$1:$TAG"; }

for stage in "${STAGES[@]}"; do
  log=$work/build-$stage.log
  if docker build --build-arg "BASE=$BASE_IMAGE" -t "$(image "$stage")" "containers/demo-$stage" >"$log" 2>&1; then
    ok "build containers/demo-$stage"
  else
    ko "build containers/demo-$stage (last lines of the log below)"
    tail -n 15 "$log" | sed 's/^/     /'
  fi
done
if ((failed > 0)); then finish; fi

# A step as the workflow runs it: the volume at /data, the defaults of the image, no
# network, and the caller's uid so the files can be removed afterwards.
step() {
  local stage=$1
  shift
  docker run --rm --network none --user "$(id -u):$(id -g)" -v "$data:/data" "$(image "$stage")" "$@"
}
quiet() { "$@" >>"$work/steps.log" 2>&1; }

boroughs_json=$(printf '"%s",' "${BOROUGHS[@]}")
boroughs_json="[${boroughs_json%,}]"
for vintage in "${VINTAGES[@]}"; do
  for borough in "${BOROUGHS[@]}"; do
    for stage in collect split strip; do
      check "demo-$stage $borough $vintage" quiet step "$stage" "$borough" "$vintage"
    done
  done
  check "demo-tile $vintage" quiet step tile --boroughs "$boroughs_json" "$vintage"
done
if ((failed > 0)); then
  tail -n 20 "$work/steps.log" | sed 's/^/     /'
fi

# The tree, file by file; the Python part prints its own ok/FAIL lines.
python_checks() {
  python3 - "$data/junk" "${#BOROUGHS[@]}" "${BOROUGHS[@]}" "${VINTAGES[@]}" <<'PY'
import csv, json, sys
import xml.etree.ElementTree as ET
from pathlib import Path

root = Path(sys.argv[1])
nb = int(sys.argv[2])
boroughs, vintages = sys.argv[3:3 + nb], sys.argv[3 + nb:]
BLDG = "{http://www.opengis.net/citygml/building/2.0}Building"
GEN = "{http://www.opengis.net/citygml/generics/2.0}"
GML_ID = "{http://www.opengis.net/gml}id"
POS = "{http://www.opengis.net/gml}posList"
HEIGHT = "{http://www.opengis.net/citygml/building/2.0}measuredHeight"
results = []

def check(what, cond, detail=""):
    results.append(bool(cond))
    print(f"{'ok  ' if cond else 'FAIL'} {what}{'' if cond or not detail else ': ' + detail}")
    return bool(cond)

def parse(path):
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        print(f"     {path}: {e}")
        return None

def listed(folder):
    f = folder / "files.txt"
    return f.read_text().split() if f.is_file() else []

expected = {}  # (vintage, borough) -> building ids from stage 1
for v in vintages:
    for b in boroughs:
        d1 = root / "stage_1" / v / f"{b}_{v}"
        gml = d1 / f"{b}_BATI_{v}.gml"
        doc = parse(gml) if gml.is_file() else None
        if not check(f"stage_1/{v}/{b}_{v}/{b}_BATI_{v}.gml is well-formed CityGML", doc is not None):
            continue
        ids = [e.get(GML_ID) for e in doc.iter(BLDG)]
        expected[v, b] = set(ids)
        check(f"stage_1 {b} {v}: at least 3 buildings, unique ids", len(ids) >= 3 and len(set(ids)) == len(ids), f"{ids}")
        check(f"stage_1 {b} {v}: files.txt lists the file", listed(d1) == [gml.name], f"{listed(d1)}")

        d2 = root / "stage_2" / v / f"{b}_{v}"
        names = listed(d2)
        check(f"stage_2 {b} {v}: one file per building", sorted(names) == sorted(f"{i}.gml" for i in ids), f"{names}")
        d3 = root / "stage_3" / v / f"{b}_{v}"
        check(f"stage_3 {b} {v}: same files as stage_2", sorted(listed(d3)) == sorted(names), f"{listed(d3)}")
        split_ok = strip_ok = True
        for name in names:
            s2, s3 = parse(d2 / name), parse(d3 / name)
            if s2 is None or s3 is None:
                split_ok = strip_ok = False
                continue
            b2 = [e.get(GML_ID) for e in s2.iter(BLDG)]
            split_ok &= b2 == [name[:-4]]
            split_ok &= any(e.tag.startswith(GEN) for e in s2.iter())
            strip_ok &= not any(e.tag.startswith(GEN) for e in s3.iter())
            # Only attributes go: geometry and other properties stay as they were.
            strip_ok &= [p.text for p in s3.iter(POS)] == [p.text for p in s2.iter(POS)]
            strip_ok &= [h.text for h in s3.iter(HEIGHT)] == [h.text for h in s2.iter(HEIGHT)] != []
        check(f"stage_2 {b} {v}: each file is one building, attributes present", split_ok)
        check(f"stage_3 {b} {v}: no generic attribute left, geometry unchanged", strip_ok)

for b in boroughs:
    if ("2009", b) in expected and ("2012", b) in expected:
        check(f"{b}: 2012 has more buildings than 2009", len(expected["2012", b]) > len(expected["2009", b]))

for v in vintages:
    want = set().union(*(expected.get((v, b), set()) for b in boroughs))
    index = root / "stage_4" / v / "buildings.csv"
    rows = list(csv.DictReader(index.open())) if index.is_file() else []
    check(f"stage_4/{v}/buildings.csv indexes every building", {r["building_id"] for r in rows} == want and len(rows) == len(want),
          f"{len(rows)} rows for {len(want)} buildings")
    ts = root / "stage_5" / v / "tileset.json"
    try:
        tileset = json.loads(ts.read_text())
    except (OSError, ValueError) as e:
        check(f"stage_5/{v}/tileset.json is valid JSON", False, str(e))
        continue
    check(f"stage_5/{v}/tileset.json is valid JSON", True)
    rt = tileset.get("root", {})
    box = rt.get("boundingVolume", {}).get("box", [])
    check(f"tileset {v}: asset.version 1.0, geometricError, root box of 12 numbers",
          tileset.get("asset", {}).get("version") == "1.0"
          and isinstance(tileset.get("geometricError"), (int, float))
          and len(box) == 12 and all(isinstance(x, (int, float)) for x in box))
    leaves, inside = set(), True
    for child in rt.get("children", []):
        for leaf in child.get("children", []):
            leaves.add(leaf.get("extras", {}).get("id"))
            lb = leaf.get("boundingVolume", {}).get("box", [])
            # The leaf's centre lies within the root box (axis-aligned boxes here).
            inside &= len(lb) == 12 and all(abs(lb[i] - box[i]) <= box[3 + 4 * i] + 1e-6 for i in range(3))
            inside &= leaf.get("geometricError") == 0
    check(f"tileset {v}: one child per borough", sorted(c.get("extras", {}).get("borough") for c in rt.get("children", [])) == sorted(boroughs))
    check(f"tileset {v}: lists exactly the expected buildings", leaves == want, f"missing {sorted(want - leaves)}, extra {sorted(leaves - want)}")
    check(f"tileset {v}: building boxes inside the root box, leaf error 0", inside)

print(f"PY {sum(results)} {len(results) - sum(results)}")
PY
}
py_out=$(python_checks)
echo "$py_out" | grep -v '^PY '
read -r _ py_passed py_failed < <(echo "$py_out" | grep '^PY ' || echo "PY 0 1")
passed=$((passed + py_passed))
failed=$((failed + py_failed))

# Same input, same bytes: the generator is deterministic.
first=$data/junk/stage_1/2009/LYON_1ER_2009/LYON_1ER_BATI_2009.gml
alt=$work/alt
mkdir -p "$alt"
docker run --rm --network none --user "$(id -u):$(id -g)" -v "$alt:/elsewhere" \
  "$(image collect)" --root /elsewhere LYON_1ER 2009 >>"$work/steps.log" 2>&1
check "demo-collect --root writes there, byte-identical to the first run" \
  cmp -s "$first" "$alt/junk/stage_1/2009/LYON_1ER_2009/LYON_1ER_BATI_2009.gml"

# Running a vintage again over its own output gives the same tileset (steps replace, not add).
before=$(md5sum <"$data/junk/stage_5/2009/tileset.json")
for borough in "${BOROUGHS[@]}"; do
  for stage in collect split strip; do quiet step "$stage" "$borough" 2009; done
done
quiet step tile --boroughs "$boroughs_json" 2009
check "rerunning 2009 over its output gives the same tileset" \
  test "$before" = "$(md5sum <"$data/junk/stage_5/2009/tileset.json")"

# Failures are failures: a non-zero status, not an empty result.
fails() { ! "$@" >>"$work/steps.log" 2>&1; }
check "demo-collect refuses a malformed borough" fails step collect 'lyon 1er' 2009
check "demo-split fails when stage 1 is missing" fails step split LYON_9EME 2009
check "demo-strip fails when stage 2 is missing" fails step strip LYON_9EME 2009
check "demo-tile fails on a vintage with no stage 3" fails step tile 1999
check "demo-tile fails on a borough with no stage 3" fails step tile --boroughs '["LYON_9EME"]' 2009

finish
