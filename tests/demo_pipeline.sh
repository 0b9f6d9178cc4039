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

# The tree, file by file; the checker prints its own ok/FAIL lines.
python_checks() {
  python3 tests/check_demo_results.py "$data/junk" "${#BOROUGHS[@]}" "${BOROUGHS[@]}" "${VINTAGES[@]}"
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
