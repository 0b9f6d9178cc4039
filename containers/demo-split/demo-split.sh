#!/bin/sh
# demo-split: stage 2 of the offline demo. Stands in for 3DUSE's splitCityGMLBuildings:
# writes one CityGML file per building of the stage 1 file.
#
# usage: demo-split [--root DIR] [--experiment NAME] BOROUGH VINTAGE
# reads  DIR/NAME/stage_1/VINTAGE/BOROUGH_VINTAGE/BOROUGH_BATI_VINTAGE.gml
# writes DIR/NAME/stage_2/VINTAGE/BOROUGH_VINTAGE/<building id>.gml and files.txt
set -eu

usage() {
  echo "usage: demo-split [--root DIR] [--experiment NAME] BOROUGH VINTAGE" >&2
  echo "  DIR defaults to \$DATA_ROOT or /data, NAME to \$EXPERIMENT or junk" >&2
  exit 2
}

root=${DATA_ROOT:-/data}
experiment=${EXPERIMENT:-junk}
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    --experiment) [ $# -ge 2 ] || usage; experiment=$2; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "demo-split: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
borough=$1
vintage=$2
case $borough$vintage in
  */*|*..*) echo "demo-split: borough and vintage may not contain / or .." >&2; exit 2 ;;
esac

input="$root/$experiment/stage_1/$vintage/${borough}_$vintage/${borough}_BATI_$vintage.gml"
out_dir="$root/$experiment/stage_2/$vintage/${borough}_$vintage"
if [ ! -s "$input" ]; then
  echo "demo-split: input $input is missing or empty (did demo-collect run?)" >&2
  exit 1
fi

# Build the result aside and swap it in whole: a rerun never mixes old and new buildings.
work="$out_dir.tmp.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# Header: everything before the first member, minus the model-wide envelope (it no
# longer describes a single building). Each member becomes a file named by its gml:id.
awk -v dir="$work" '
  function flush_header(file) { for (i = 1; i <= nh; i++) print head[i] > file }
  /<core:cityObjectMember>/ && !in_member {
    in_member = 1; nm = 0; id = ""; seen_member = 1
  }
  in_member {
    member[++nm] = $0
    if (id == "" && match($0, /<bldg:Building gml:id="[^"]*"/)) {
      id = substr($0, RSTART + 23, RLENGTH - 24)
    }
    if ($0 ~ /<\/core:cityObjectMember>/) {
      in_member = 0
      if (id == "") { print "demo-split: a cityObjectMember without a bldg:Building gml:id" > "/dev/stderr"; bad = 1; next }
      if (id ~ /[\/]/ || id in done) { print "demo-split: unusable or repeated gml:id " id > "/dev/stderr"; bad = 1; next }
      done[id] = 1
      file = dir "/" id ".gml"
      flush_header(file)
      for (i = 1; i <= nm; i++) print member[i] > file
      print "</core:CityModel>" > file
      close(file)
      print id ".gml" > (dir "/files.txt")
      count++
    }
    next
  }
  !seen_member {
    if ($0 ~ /<gml:boundedBy>/) { skip = 1 }
    if (!skip) head[++nh] = $0
    if ($0 ~ /<\/gml:boundedBy>/) { skip = 0 }
  }
  END {
    if (in_member) { print "demo-split: the file ends inside a cityObjectMember" > "/dev/stderr"; exit 1 }
    if (bad) exit 1
    if (count == 0) { print "demo-split: no building found" > "/dev/stderr"; exit 1 }
  }
' "$input"

rm -rf "$out_dir"
mv "$work" "$out_dir"
trap - EXIT
echo "demo-split: $borough $vintage: $(wc -l <"$out_dir/files.txt") buildings -> $out_dir"
