#!/bin/bash
# tests/bench/hit.sh - how much a cache hit costs, measured side by side.
#
# Usage: tests/bench/hit.sh
#   AWS_CREDPROC_BIN  binary to measure (default <repo>/build/cmd/aws-credproc;
#                     build it with --buildtype=release for meaningful numbers)
#   BENCH_PYTHON      python3 with boto3, botocore, moto (default: python3 on PATH)
#   BENCH_RUNS        hyperfine runs for bare/hit (default 200)
#   BENCH_AWS_RUNS    hyperfine runs for the AWS CLI (default 10)
#
# In one hyperfine run it times a bare `puts("{}")` C program and
# `aws-credproc --profile role` answering from a warm cache, then (separately,
# fewer runs) `aws configure export-credentials --profile role` of AWS CLI v2
# answering from its own warm ~/.aws/cli/cache. STS is moto_server on
# loopback; it is stopped before timing, so every timed run is a real hit.
# Prints mean ± stddev, the ratios hit/bare (target <= 1.5x) and
# aws-cli/hit (target >= 200x), peak RSS of a hit, and whether a hit loads
# libcurl/libxml2/libcrypto. The targets are informational: the exit status
# is 0 unless something failed to run. Installs hyperfine, awscli and time
# with apt-get when missing (as root). Takes well under two minutes.
set -eu

. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-200}
AWS_RUNS=${BENCH_AWS_RUNS:-10}
AWS_V2=/usr/bin/aws

bench_need "$AWS_V2" awscli
bench_need cc gcc
"$AWS_V2" --version 2>&1 | grep -q '^aws-cli/2\.' || bench_die "$AWS_V2 is not AWS CLI v2"
bench_setup

# The baseline: the cheapest dynamically linked C program.
printf '#include <stdio.h>\nint main(void){puts("{}");}\n' >"$BENCH_TMP/bare.c"
cc -O2 -o "$BENCH_TMP/bare" "$BENCH_TMP/bare.c"

# Warm our cache.
"$BIN" --profile role >"$BENCH_TMP/ours.json" 2>"$BENCH_TMP/ours.err" ||
	{ cat "$BENCH_TMP/ours.err" >&2; bench_die "aws-credproc --profile role failed"; }

# Warm AWS CLI v2's cache. CLI 2.9 cannot be pointed at moto, but it reads the
# ~/.aws/cli/cache entries that botocore's AssumeRole provider writes through
# JSONFileCache (same cache key), so botocore assumes the role once.
HOME=$BENCH_HOME "$PY" - <<'EOF' || bench_die "could not warm the AWS CLI cache with botocore"
import os
import botocore.session
from botocore.credentials import JSONFileCache
s = botocore.session.Session(profile="role")
cache = JSONFileCache(os.path.expanduser("~/.aws/cli/cache"))
s.get_component("credential_provider").get_provider("assume-role").cache = cache
c = s.get_credentials().get_frozen_credentials()
assert c.token, "no session token: the role was not assumed"
EOF
ls "$BENCH_HOME/.aws/cli/cache"/*.json >/dev/null 2>&1 || bench_die "botocore wrote no cache entry"

# From here on there is no STS: both tools must answer from their caches.
bench_stop_moto
HOME=$BENCH_HOME "$AWS_V2" configure export-credentials --profile role --format process \
	>"$BENCH_TMP/cli.json" 2>"$BENCH_TMP/cli.err" ||
	{ cat "$BENCH_TMP/cli.err" >&2; bench_die "aws configure export-credentials failed with STS stopped"; }
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["SessionToken"] and d["Expiration"]' \
	"$BENCH_TMP/cli.json" || bench_die "aws configure export-credentials printed no session credentials"
HIT=yes
if ! "$BIN" --profile role >"$BENCH_TMP/ours2.json" 2>"$BENCH_TMP/ours2.err"; then
	HIT=no
	echo "# NOTE: aws-credproc failed with STS stopped (no cache hit):" >&2
	sed 's/^/#   /' "$BENCH_TMP/ours2.err" >&2
	echo "# restarting moto: the 'hit' rows below time MISSES" >&2
	bench_start_moto
	export AWS_ENDPOINT_URL_STS="$MOTO_URL"
elif ! cmp -s "$BENCH_TMP/ours.json" "$BENCH_TMP/ours2.json"; then
	bench_die "the hit printed other credentials than the warm-up"
fi

echo "# timing: bare vs hit ($RUNS runs each), then AWS CLI v2 ($AWS_RUNS runs)"
hyperfine -N --style basic --warmup 20 --runs "$RUNS" \
	--export-json "$BENCH_TMP/fast.json" \
	-n bare "$BENCH_TMP/bare" \
	-n hit "$BIN --profile role"
HOME=$BENCH_HOME hyperfine -N --style basic --warmup 1 --runs "$AWS_RUNS" \
	--export-json "$BENCH_TMP/cli-time.json" \
	-n aws-cli "$AWS_V2 configure export-credentials --profile role"

RSS_HIT=$(bench_rss "$BIN" --profile role)
RSS_BARE=$(bench_rss "$BENCH_TMP/bare")
RSS_CLI=$(HOME=$BENCH_HOME bench_rss "$AWS_V2" configure export-credentials --profile role)

LD_DEBUG=files "$BIN" --profile role 2>"$BENCH_TMP/ld.txt" >/dev/null || true
HEAVY=$(grep -oE 'file=[^ ]*(libcurl|libxml2|libcrypto)[^ ]*' "$BENCH_TMP/ld.txt" |
	sed 's/^file=//' | sort -u | tr '\n' ' ')
NSO=$(grep -oE 'file=[^ ]+' "$BENCH_TMP/ld.txt" | sort -u | wc -l)

"$PY" - "$BENCH_TMP/fast.json" "$BENCH_TMP/cli-time.json" "$HIT" \
	"$RSS_BARE" "$RSS_HIT" "$RSS_CLI" "$NSO" "${HEAVY:-}" "$BIN" <<'EOF'
import json, math, sys
fast, cli, hit, rss_bare, rss_hit, rss_cli, nso, heavy, binary = sys.argv[1:10]
r = {x["command"]: x for x in json.load(open(fast))["results"]}
r.update({x["command"]: x for x in json.load(open(cli))["results"]})

def ms(x):
    return f'{x["mean"] * 1e3:9.2f} ± {x["stddev"] * 1e3:6.2f} ms  (median {x["median"] * 1e3:.2f}, n={len(x["times"])})'

def ratio(a, b):
    q = a["mean"] / b["mean"]
    e = q * math.hypot(a["stddev"] / a["mean"], b["stddev"] / b["mean"])
    return q, e

print()
print(f"aws-credproc hit benchmark  ({binary})")
label = "aws-credproc hit" if hit == "yes" else "aws-credproc MISS (no cache hit!)"
bare = 'bare puts("{}")'
print(f"  {bare:<34}{ms(r['bare'])}")
print(f"  {label:<34}{ms(r['hit'])}")
print(f"  {'aws configure export-credentials':<34}{ms(r['aws-cli'])}")
q1, e1 = ratio(r["hit"], r["bare"])
q2, e2 = ratio(r["aws-cli"], r["hit"])
print(f"  hit / bare     = {q1:7.2f} ± {e1:.2f}x   target <= 1.5x   {'PASS' if q1 <= 1.5 else 'MISS'}")
print(f"  aws-cli / hit  = {q2:7.1f} ± {e2:.1f}x   target >= 200x   {'PASS' if q2 >= 200 else 'MISS'}")
print(f"  peak RSS (KiB): bare {rss_bare}, hit {rss_hit}, aws-cli {rss_cli}")
print(f"  libraries loaded by a hit (LD_DEBUG=files): {nso}; libcurl/libxml2/libcrypto: {heavy.strip() or 'none'}")
if hit != "yes":
    print("  NOTE: aws-credproc did not answer from its cache; the 'hit' row timed STS calls to moto")
EOF
