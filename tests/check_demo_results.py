#!/usr/bin/env python3
"""Checks the demo pipeline's results tree file by file (CityGML parsed, CSV index,
3D Tiles tileset), wherever it came from: tests/demo_pipeline.sh's docker run or
tests/quickstart's fetch-results from a real node.
Usage: check_demo_results.py ROOT NUMBER_OF_BOROUGHS BOROUGH... VINTAGE...
Prints one ok/FAIL line per check and a last line "PY <passed> <failed>"; exits 1 when
one failed."""
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
sys.exit(0 if all(results) else 1)
