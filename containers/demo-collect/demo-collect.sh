#!/bin/sh
# demo-collect: stage 1 of the offline demo. Stands in for collect_lyon_data by
# generating, instead of downloading, a small CityGML 2.0 file for one borough and one
# vintage. The content depends only on BOROUGH and VINTAGE, so reruns give the same bytes.
#
# usage: demo-collect [--root DIR] [--experiment NAME] BOROUGH VINTAGE
# writes DIR/NAME/stage_1/VINTAGE/BOROUGH_VINTAGE/BOROUGH_BATI_VINTAGE.gml and files.txt
set -eu

usage() {
  echo "usage: demo-collect [--root DIR] [--experiment NAME] BOROUGH VINTAGE" >&2
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
    -*) echo "demo-collect: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
borough=$1
vintage=$2

# The names end up in paths and in gml:id values: keep them to what Lyon's data uses.
case $borough in
  ''|*[!A-Z0-9_]*) echo "demo-collect: borough '$borough' must be upper-case letters, digits and _ (e.g. LYON_1ER)" >&2; exit 2 ;;
esac
case $vintage in
  [12][0-9][0-9][0-9]) ;;
  *) echo "demo-collect: vintage '$vintage' must be a year such as 2009" >&2; exit 2 ;;
esac

out_dir="$root/$experiment/stage_1/$vintage/${borough}_$vintage"
gml_name="${borough}_BATI_$vintage.gml"
mkdir -p "$out_dir"

# Seed from the borough only: a building keeps its place and size from one vintage to
# the next, and later vintages add buildings, as a real city does.
seed=$(printf '%s' "$borough" | md5sum | cut -c1-7)
seed=$(printf '%d' "0x$seed")

# Write next to the target and rename, so an interrupted run never leaves half a file.
tmp="$out_dir/.$gml_name.tmp"
awk -v borough="$borough" -v vintage="$vintage" -v seed="$seed" '
# Park-Miller generator: products stay below 2^53, so every awk gives the same numbers.
function rnd(n) { state = (state * 16807) % 2147483647; return state % n }
function ring(a) { return "<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList srsDimension=\"3\">" a "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>" }
function p(x, y, z) { return sprintf("%.2f %.2f %.2f", x, y, z) }
BEGIN {
  state = seed % 2147483646 + 1
  count = 3 + rnd(3)
  extra = int((vintage - 2009) / 3)
  if (extra < 0) extra = 0
  if (extra > 4) extra = 4
  count += extra
  # Lyon data is in RGF93 / CC46 (EPSG:3946); place the borough inside the city.
  x0 = 1840000 + rnd(5000)
  y0 = 5172000 + rnd(5000)
  minx = miny = minz = 1e12; maxx = maxy = maxz = -1e12
  for (k = 1; k <= count; k++) {
    bx[k] = x0 + (k - 1) * 45 + rnd(10)
    by[k] = y0 + rnd(40)
    bw[k] = 8 + rnd(15)
    bd[k] = 8 + rnd(12)
    bz[k] = 165 + rnd(10)
    bh[k] = 6 + rnd(30)
    yr[k] = 1850 + rnd(150)
    if (k > count - extra) yr[k] = vintage - 1 - rnd(2)
    if (bx[k] < minx) minx = bx[k]; if (bx[k] + bw[k] > maxx) maxx = bx[k] + bw[k]
    if (by[k] < miny) miny = by[k]; if (by[k] + bd[k] > maxy) maxy = by[k] + bd[k]
    if (bz[k] < minz) minz = bz[k]; if (bz[k] + bh[k] > maxz) maxz = bz[k] + bh[k]
  }
  print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
  print "<core:CityModel xmlns:core=\"http://www.opengis.net/citygml/2.0\""
  print "    xmlns:bldg=\"http://www.opengis.net/citygml/building/2.0\""
  print "    xmlns:gen=\"http://www.opengis.net/citygml/generics/2.0\""
  print "    xmlns:gml=\"http://www.opengis.net/gml\""
  print "    xmlns:xlink=\"http://www.w3.org/1999/xlink\">"
  printf "  <gml:name>%s_BATI_%s (demo)</gml:name>\n", borough, vintage
  print "  <gml:boundedBy>"
  print "    <gml:Envelope srsName=\"EPSG:3946\" srsDimension=\"3\">"
  printf "      <gml:lowerCorner>%s</gml:lowerCorner>\n", p(minx, miny, minz)
  printf "      <gml:upperCorner>%s</gml:upperCorner>\n", p(maxx, maxy, maxz)
  print "    </gml:Envelope>"
  print "  </gml:boundedBy>"
  for (k = 1; k <= count; k++) {
    x1 = bx[k]; y1 = by[k]; z1 = bz[k]; x2 = x1 + bw[k]; y2 = y1 + bd[k]; z2 = z1 + bh[k]
    id = sprintf("%s_%s_BLDG_%02d", borough, vintage, k)
    print "  <core:cityObjectMember>"
    printf "    <bldg:Building gml:id=\"%s\">\n", id
    printf "      <gml:name>%s</gml:name>\n", id
    printf "      <core:creationDate>%s-01-01</core:creationDate>\n", vintage
    print "      <gen:stringAttribute name=\"source\">"
    print "        <gen:value>demo-collect</gen:value>"
    print "      </gen:stringAttribute>"
    printf "      <gen:intAttribute name=\"vintage\"><gen:value>%s</gen:value></gen:intAttribute>\n", vintage
    print "      <gen:doubleAttribute name=\"footprint_area\">"
    printf "        <gen:value>%.1f</gen:value>\n", bw[k] * bd[k]
    print "      </gen:doubleAttribute>"
    printf "      <bldg:yearOfConstruction>%d</bldg:yearOfConstruction>\n", yr[k]
    printf "      <bldg:measuredHeight uom=\"m\">%.1f</bldg:measuredHeight>\n", bh[k]
    print "      <bldg:lod1Solid>"
    print "        <gml:Solid>"
    print "          <gml:exterior>"
    print "            <gml:CompositeSurface>"
    # Six faces of the box, each ring closed on its first point.
    print "              " ring(p(x1,y1,z1) " " p(x1,y2,z1) " " p(x2,y2,z1) " " p(x2,y1,z1) " " p(x1,y1,z1))
    print "              " ring(p(x1,y1,z2) " " p(x2,y1,z2) " " p(x2,y2,z2) " " p(x1,y2,z2) " " p(x1,y1,z2))
    print "              " ring(p(x1,y1,z1) " " p(x2,y1,z1) " " p(x2,y1,z2) " " p(x1,y1,z2) " " p(x1,y1,z1))
    print "              " ring(p(x2,y1,z1) " " p(x2,y2,z1) " " p(x2,y2,z2) " " p(x2,y1,z2) " " p(x2,y1,z1))
    print "              " ring(p(x2,y2,z1) " " p(x1,y2,z1) " " p(x1,y2,z2) " " p(x2,y2,z2) " " p(x2,y2,z1))
    print "              " ring(p(x1,y2,z1) " " p(x1,y1,z1) " " p(x1,y1,z2) " " p(x1,y2,z2) " " p(x1,y2,z1))
    print "            </gml:CompositeSurface>"
    print "          </gml:exterior>"
    print "        </gml:Solid>"
    print "      </bldg:lod1Solid>"
    print "    </bldg:Building>"
    print "  </core:cityObjectMember>"
  }
  print "</core:CityModel>"
}' >"$tmp"
mv "$tmp" "$out_dir/$gml_name"
printf '%s\n' "$gml_name" >"$out_dir/files.txt"

buildings=$(grep -c '<bldg:Building ' "$out_dir/$gml_name")
echo "demo-collect: $borough $vintage: $buildings buildings -> $out_dir/$gml_name"
