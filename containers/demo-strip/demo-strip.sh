#!/bin/sh
# demo-strip: stage 3 of the offline demo. Stands in for citygml2stripper: copies each
# split building without its generic attributes (gen:*Attribute, gen:genericAttributeSet).
#
# usage: demo-strip [--root DIR] [--experiment NAME] BOROUGH VINTAGE
# reads  DIR/NAME/stage_2/VINTAGE/BOROUGH_VINTAGE/*.gml
# writes DIR/NAME/stage_3/VINTAGE/BOROUGH_VINTAGE/*.gml and files.txt
set -eu

usage() {
  echo "usage: demo-strip [--root DIR] [--experiment NAME] BOROUGH VINTAGE" >&2
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
    -*) echo "demo-strip: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
borough=$1
vintage=$2
case $borough$vintage in
  */*|*..*) echo "demo-strip: borough and vintage may not contain / or .." >&2; exit 2 ;;
esac

in_dir="$root/$experiment/stage_2/$vintage/${borough}_$vintage"
out_dir="$root/$experiment/stage_3/$vintage/${borough}_$vintage"
if [ ! -s "$in_dir/files.txt" ]; then
  echo "demo-strip: $in_dir/files.txt is missing or empty (did demo-split run?)" >&2
  exit 1
fi

work="$out_dir.tmp.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

removed_total=0
while IFS= read -r name; do
  [ -n "$name" ] || continue
  case $name in */*|.*) echo "demo-strip: unexpected name '$name' in files.txt" >&2; exit 1 ;; esac
  [ -f "$in_dir/$name" ] || { echo "demo-strip: $in_dir/$name listed but missing" >&2; exit 1; }
  # depth counts open generic-attribute elements, so multi-line and nested ones
  # (attributes inside a genericAttributeSet) go as a whole.
  removed=$(awk -v out="$work/$name" '
    function opens(s)  { return gsub(/<gen:[A-Za-z]*(Attribute|AttributeSet)[ >]/, "&", s) }
    function closes(s) { return gsub(/<\/gen:[A-Za-z]*(Attribute|AttributeSet)>/, "&", s) }
    {
      o = opens($0); c = closes($0)
      if (depth == 0 && o == 0) { print > out; next }
      if (depth == 0) n++
      depth += o - c
      if (depth < 0) { print "demo-strip: unbalanced generic attribute at line " NR > "/dev/stderr"; exit 1 }
    }
    END { close(out); if (depth != 0) { print "demo-strip: unterminated generic attribute" > "/dev/stderr"; exit 1 } print n + 0 }
  ' "$in_dir/$name")
  removed_total=$((removed_total + removed))
  printf '%s\n' "$name" >>"$work/files.txt"
done <"$in_dir/files.txt"

rm -rf "$out_dir"
mv "$work" "$out_dir"
trap - EXIT
echo "demo-strip: $borough $vintage: $(wc -l <"$out_dir/files.txt") files, $removed_total generic attributes removed -> $out_dir"
