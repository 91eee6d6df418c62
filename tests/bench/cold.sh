#!/bin/bash
# tests/bench/cold.sh - how much a cache miss (a real AssumeRole) costs,
# against botocore doing the same, measured side by side.
#
# Usage: tests/bench/cold.sh
#   AWS_CREDPROC_BIN  binary to measure (default <repo>/build/cmd/aws-credproc;
#                     build it with --buildtype=release for meaningful numbers)
#   BENCH_PYTHON      python3 with boto3, botocore, moto (default: python3 on PATH)
#   BENCH_RUNS        hyperfine runs per command (default 30)
#
# STS is moto_server on loopback. In one hyperfine run, with our cache dir
# emptied before every run: `aws-credproc --profile role` vs a fresh Python
# process resolving profile `role` through botocore's AssumeRole provider
# (no cache) against the same moto. Prints mean ± stddev, the ratio
# botocore/ours and the peak RSS of a miss. Informational: the exit status
# is 0 unless something failed to run. Installs hyperfine and time with
# apt-get when missing (as root). Takes well under two minutes.
set -eu

. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-30}
bench_setup

cat >"$BENCH_TMP/botocore_cold.py" <<'EOF'
# A cold botocore AssumeRole: fresh process, in-memory cache only.
import botocore.session
c = botocore.session.Session(profile="role").get_credentials().get_frozen_credentials()
assert c.token, "no session token: the role was not assumed"
print(c.access_key[:4])
EOF

# One of each before timing: both must work, and ours creates its cache dir.
"$BIN" --profile role >"$BENCH_TMP/ours.json" 2>"$BENCH_TMP/ours.err" ||
	{ cat "$BENCH_TMP/ours.err" >&2; bench_die "aws-credproc --profile role failed"; }
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["SessionToken"] and d["Expiration"]' \
	"$BENCH_TMP/ours.json" || bench_die "aws-credproc printed no session credentials"
"$PY" "$BENCH_TMP/botocore_cold.py" >/dev/null || bench_die "botocore could not assume the role"
[ -d "$CACHE_DIR" ] || mkdir -m 700 "$CACHE_DIR"

# hyperfine -N runs --prepare without a shell: no globs, so find.
CLEAR="find $CACHE_DIR -mindepth 1 -delete"
sts_calls() { grep -c '"POST / HTTP/1.1" 200' "$BENCH_TMP/moto.log" || true; }
CALLS0=$(sts_calls)
echo "# timing: cold miss, $RUNS runs each, cache emptied before every run"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --prepare "$CLEAR" \
	--export-json "$BENCH_TMP/cold.json" \
	-n aws-credproc "$BIN --profile role" \
	-n botocore "$PY $BENCH_TMP/botocore_cold.py"
CALLS=$(( $(sts_calls) - CALLS0 ))
CALLS_WANT=$(( 2 * (RUNS + 3) ))

$CLEAR
RSS_OURS=$(bench_rss "$BIN" --profile role)
RSS_BOTO=$(bench_rss "$PY" "$BENCH_TMP/botocore_cold.py")
$CLEAR
LD_DEBUG=files "$BIN" --profile role 2>"$BENCH_TMP/ld-miss.txt" >/dev/null || true
NSO_MISS=$(grep -oE 'file=[^ ]+' "$BENCH_TMP/ld-miss.txt" | sort -u | wc -l)

"$PY" - "$BENCH_TMP/cold.json" "$RSS_OURS" "$RSS_BOTO" "$NSO_MISS" "$BIN" \
	"$CALLS" "$CALLS_WANT" <<'EOF'
import json, math, sys
path, rss_ours, rss_boto, nso, binary, calls, want = sys.argv[1:8]
r = {x["command"]: x for x in json.load(open(path))["results"]}

def ms(x):
    return f'{x["mean"] * 1e3:9.2f} ± {x["stddev"] * 1e3:6.2f} ms  (median {x["median"] * 1e3:.2f}, n={len(x["times"])})'

a, b = r["botocore"], r["aws-credproc"]
q = a["mean"] / b["mean"]
e = q * math.hypot(a["stddev"] / a["mean"], b["stddev"] / b["mean"])
print()
print(f"aws-credproc cold-miss benchmark  ({binary}; STS = moto on loopback)")
print(f"  {'aws-credproc miss':<30}{ms(b)}")
print(f"  {'botocore AssumeRole (python)':<30}{ms(a)}")
print(f"  botocore / ours = {q:6.1f} ± {e:.1f}x")
print(f"  peak RSS (KiB): aws-credproc miss {rss_ours}, botocore {rss_boto}")
print(f"  libraries loaded by a miss (LD_DEBUG=files): {nso}")
ok = "every run called STS" if int(calls) >= int(want) else "NOT every run called STS!"
print(f"  AssumeRole calls seen by moto while timing: {calls} (runs incl. warm-up: {want}; {ok})")
EOF
