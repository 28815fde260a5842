#!/usr/bin/env bash
# Before/after comparison of two `outlayer` binaries with scripts/load.sh, interleaved so that the
# machine's drift (other processes, thermal state, a noisy neighbour) falls on both alike:
# A, B, A, B, ... for ROUNDS rounds, then the median of each measure per binary, mode and
# connection count.
#
#   scripts/ab.sh OLD_BIN NEW_BIN                 # sqlite and postgres, 3 rounds of 10 s runs
#   ROUNDS=5 DURATION=15s scripts/ab.sh A B sqlite
#
# Environment: ROUNDS (default 3), DURATION (default 10s), and everything scripts/load.sh reads
# (CONNECTIONS, LOAD_PG_URL, ...). Back-to-back runs of one binary on the project's 2-core machine
# differed by up to ±15 %: a difference between the medians smaller than that is not a result.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
a=$(realpath "$1")
b=$(realpath "$2")
shift 2
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(sqlite postgres)
ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-10s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$a
    [ "$side" = A ] || bin=$b
    echo "round $round/$ROUNDS, $side ($(date +%H:%M:%S))" >&2
    OUTLAYER_BIN=$bin scripts/load.sh "${modes[@]}" 2>/dev/null | grep '^mode=' | sed "s/^/side=$side /" | tee -a "$out" >&2
  done
done

echo "A = $a"
echo "B = $b"
echo "medians of $ROUNDS runs of $DURATION each:"
python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    runs.setdefault((f["mode"], int(f["connections"])), {}).setdefault(f["side"], []).append(f)
measures = ["rps", "p50_ms", "p99_ms", "serve_cpu_us_per_call", "pg_cpu_us_per_call"]
for (mode, conns), sides in sorted(runs.items()):
    cells = []
    for m in measures:
        meds = []
        for side in ("A", "B"):
            values = [float(r[m]) for r in sides.get(side, []) if r.get(m, "n/a") not in ("", "n/a")]
            meds.append(statistics.median(values) if values else None)
        if meds[0] is None or meds[1] is None:
            continue
        change = f"{(meds[1] - meds[0]) / meds[0] * 100:+.0f}%" if meds[0] else "n/a"
        cells.append(f"{m} {meds[0]:g} -> {meds[1]:g} ({change})")
    print(f"{mode} connections={conns}: " + "; ".join(cells))
PY
