#!/bin/sh
# demo-tile: stages 4 and 5 of the offline demo, for one vintage. Stands in for the
# 3DCityDB import (stage 4: an index of every stripped building with its bounding box)
# and for py3dtilers (stage 5: a 3D Tiles 1.0 tileset.json, one tile per borough, one
# child tile per building; buildings are described by their bounding boxes only).
#
# usage: demo-tile [--root DIR] [--experiment NAME] [--boroughs LIST] VINTAGE
#   LIST: the boroughs to gather, as a JSON list (["LYON_1ER","LYON_8EME"]) or comma- or
#   space-separated; by default every BOROUGH_VINTAGE folder of stage 3.
# reads  DIR/NAME/stage_3/VINTAGE/BOROUGH_VINTAGE/*.gml
# writes DIR/NAME/stage_4/VINTAGE/buildings.csv, DIR/NAME/stage_5/VINTAGE/tileset.json
set -eu

usage() {
  echo "usage: demo-tile [--root DIR] [--experiment NAME] [--boroughs LIST] VINTAGE" >&2
  echo "  DIR defaults to \$DATA_ROOT or /data, NAME to \$EXPERIMENT or junk" >&2
  exit 2
}

root=${DATA_ROOT:-/data}
experiment=${EXPERIMENT:-junk}
boroughs=
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    --experiment) [ $# -ge 2 ] || usage; experiment=$2; shift 2 ;;
    --boroughs) [ $# -ge 2 ] || usage; boroughs=$2; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "demo-tile: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
vintage=$1
case $vintage in */*|*..*|'') echo "demo-tile: bad vintage '$vintage'" >&2; exit 2 ;; esac

stage3="$root/$experiment/stage_3/$vintage"
stage4="$root/$experiment/stage_4/$vintage"
stage5="$root/$experiment/stage_5/$vintage"

# Accept the workflow's JSON list as it is: drop brackets and quotes, split on , and blanks.
boroughs=$(printf '%s' "$boroughs" | tr -d '[]"' | tr ', \t\n' '    ')
if [ -z "$(printf '%s' "$boroughs" | tr -d ' ')" ]; then
  boroughs=
  for d in "$stage3"/*_"$vintage"; do
    [ -d "$d" ] || continue
    b=${d##*/}
    boroughs="$boroughs ${b%_"$vintage"}"
  done
fi
if [ -z "$(printf '%s' "$boroughs" | tr -d ' ')" ]; then
  echo "demo-tile: no borough folder under $stage3 (did demo-strip run?)" >&2
  exit 1
fi

mkdir -p "$stage4" "$stage5"
csv_tmp="$stage4/.buildings.csv.tmp"
echo "building_id,borough,min_x,min_y,min_z,max_x,max_y,max_z,file" >"$csv_tmp"

# Stage 4: one line per building, its box taken from every coordinate of its geometry.
for b in $boroughs; do
  case $b in *[!A-Z0-9_]*) echo "demo-tile: borough '$b' must be upper-case letters, digits and _" >&2; exit 2 ;; esac
  dir="$stage3/${b}_$vintage"
  if [ ! -s "$dir/files.txt" ]; then
    echo "demo-tile: $dir/files.txt is missing or empty (did demo-strip run for $b?)" >&2
    exit 1
  fi
  while IFS= read -r name; do
    [ -n "$name" ] || continue
    awk -v borough="$b" -v rel="stage_3/$vintage/${b}_$vintage/$name" '
      BEGIN { minx = miny = minz = 1e300; maxx = maxy = maxz = -1e300 }
      id == "" && match($0, /<bldg:Building gml:id="[^"]*"/) { id = substr($0, RSTART + 23, RLENGTH - 24) }
      # posList text may span lines: collect from the opening tag to the closing one.
      /<gml:posList/ { inpos = 1; buf = "" }
      inpos { buf = buf " " $0 }
      inpos && /<\/gml:posList>/ {
        inpos = 0
        sub(/.*<gml:posList[^>]*>/, "", buf); sub(/<\/gml:posList>.*/, "", buf)
        n = split(buf, v, /[ \t]+/); k = 0
        for (i = 1; i <= n; i++) {
          if (v[i] == "") continue
          c = k % 3; k++; x = v[i] + 0
          if (c == 0) { if (x < minx) minx = x; if (x > maxx) maxx = x }
          if (c == 1) { if (x < miny) miny = x; if (x > maxy) maxy = x }
          if (c == 2) { if (x < minz) minz = x; if (x > maxz) maxz = x }
        }
        points += k / 3
      }
      END {
        if (id == "" || points == 0) { print "demo-tile: no building geometry in " rel > "/dev/stderr"; exit 1 }
        printf "%s,%s,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%s\n", id, borough, minx, miny, minz, maxx, maxy, maxz, rel
      }
    ' "$dir/$name" >>"$csv_tmp"
  done <"$dir/files.txt"
done
mv "$csv_tmp" "$stage4/buildings.csv"

# Stage 5: a box volume is centre + three half-axes (3D Tiles 1.0, 12 numbers). The
# coordinates stay in EPSG:3946, said in the tileset extras; a viewer would need a
# root transform, which this demo does not compute.
json_tmp="$stage5/.tileset.json.tmp"
awk -F, -v vintage="$vintage" '
  function box(a, b, c, d, e, f) {
    return sprintf("[%.2f, %.2f, %.2f, %.2f, 0, 0, 0, %.2f, 0, 0, 0, %.2f]",
      (a + d) / 2, (b + e) / 2, (c + f) / 2, (d - a) / 2, (e - b) / 2, (f - c) / 2)
  }
  # Newton steps instead of sqrt(): the static busybox awk of Debian has no math library.
  function root2(x,   r, i) { if (x <= 0) return 0; r = x; for (i = 0; i < 60; i++) r = (r + x / r) / 2; return r }
  function diag(a, b, c, d, e, f) { return root2((d - a) * (d - a) + (e - b) * (e - b) + (f - c) * (f - c)) }
  function grow(key, a, b, c, d, e, f) {
    if (!(key in lo_x)) { lo_x[key] = a; lo_y[key] = b; lo_z[key] = c; hi_x[key] = d; hi_y[key] = e; hi_z[key] = f; return }
    if (a < lo_x[key]) lo_x[key] = a; if (b < lo_y[key]) lo_y[key] = b; if (c < lo_z[key]) lo_z[key] = c
    if (d > hi_x[key]) hi_x[key] = d; if (e > hi_y[key]) hi_y[key] = e; if (f > hi_z[key]) hi_z[key] = f
  }
  NR == 1 { next }
  {
    n++; id[n] = $1; bor[n] = $2
    for (i = 3; i <= 8; i++) val[n, i] = $i + 0
    if (!($2 in seen)) { seen[$2] = 1; order[++nb] = $2 }
    grow($2, $3, $4, $5, $6, $7, $8); grow("", $3, $4, $5, $6, $7, $8)
  }
  END {
    if (n == 0) { print "demo-tile: no building to tile" > "/dev/stderr"; exit 1 }
    root_err = diag(lo_x[""], lo_y[""], lo_z[""], hi_x[""], hi_y[""], hi_z[""])
    print "{"
    printf "  \"asset\": {\"version\": \"1.0\", \"tilesetVersion\": \"%s\"},\n", vintage
    printf "  \"geometricError\": %.2f,\n", root_err
    print "  \"root\": {"
    printf "    \"boundingVolume\": {\"box\": %s},\n", box(lo_x[""], lo_y[""], lo_z[""], hi_x[""], hi_y[""], hi_z[""])
    printf "    \"geometricError\": %.2f,\n", root_err
    print "    \"refine\": \"ADD\","
    print "    \"children\": ["
    for (j = 1; j <= nb; j++) {
      b = order[j]
      print "      {"
      printf "        \"boundingVolume\": {\"box\": %s},\n", box(lo_x[b], lo_y[b], lo_z[b], hi_x[b], hi_y[b], hi_z[b])
      printf "        \"geometricError\": %.2f,\n", diag(lo_x[b], lo_y[b], lo_z[b], hi_x[b], hi_y[b], hi_z[b])
      printf "        \"extras\": {\"borough\": \"%s\"},\n", b
      print "        \"children\": ["
      first = 1
      for (i = 1; i <= n; i++) {
        if (bor[i] != b) continue
        if (!first) print ","
        first = 0
        printf "          {\"boundingVolume\": {\"box\": %s}, \"geometricError\": 0, \"extras\": {\"id\": \"%s\", \"borough\": \"%s\"}}",
          box(val[i, 3], val[i, 4], val[i, 5], val[i, 6], val[i, 7], val[i, 8]), id[i], b
      }
      print ""
      print "        ]"
      printf "      }%s\n", (j < nb ? "," : "")
    }
    print "    ]"
    print "  },"
    printf "  \"extras\": {\"crs\": \"EPSG:3946\", \"vintage\": \"%s\", \"buildings\": %d, \"generator\": \"demo-tile\"}\n", vintage, n
    print "}"
  }
' "$stage4/buildings.csv" >"$json_tmp"
mv "$json_tmp" "$stage5/tileset.json"
echo "demo-tile: $vintage: $(($(wc -l <"$stage4/buildings.csv") - 1)) buildings -> $stage4/buildings.csv, $stage5/tileset.json"
