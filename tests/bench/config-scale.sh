#!/bin/bash
# tests/bench/config-scale.sh - how the size of the config file costs,
# measured side by side.
#
# Usage: tests/bench/config-scale.sh
#   AWS_CREDPROC_BIN  binary to measure (default <repo>/build/cmd/aws-credproc;
#                     build it with --buildtype=release for meaningful numbers)
#   BENCH_PYTHON      python3 with boto3, botocore, moto (default: python3 on PATH)
#   BENCH_RUNS        hyperfine runs per command (default 100)
#
# Writes config files shaped like a real IAM Identity Center one: an
# [sso-session corp] and N profiles, N-1 of them Identity Center ones
# (sso_session, sso_account_id, sso_role_name, region, output), the last one
# `base` with static keys; just before it, `role` (role_arn, source_profile =
# base), so both measured profiles are at the END of the file. N is 1,
# 1,000, 5,000 and 20,000. In one hyperfine run it times
# `aws-credproc --profile base` with each file and `aws-credproc --profile
# role` answered from a warm cache (STS, moto_server on loopback, is stopped
# before timing) with the 1- and 20,000-profile files. Every command is the
# binary itself: AWS_CONFIG_FILE is a symbolic link that hyperfine's
# --prepare points at the file of the command.
# Files of CP_CONFIG_INDEX_MIN (256 KiB) or more are answered from their
# checked-config index in the cache directory once one run has written it
# (src/config.h): the static and hit rows are those warm runs; the cold
# rows time `--profile base` with the index removed before every run (the
# whole file read and checked, and the index written, as on the first run
# after the file changed).
# Prints mean ± stddev and the ratios against the 1-profile file (target for
# 20,000 profiles: <= 1.5x). Informational: the exit status is 0 unless
# something failed to run (a file the binary refuses is reported, not timed,
# and makes it 1). Installs hyperfine and time with apt-get when missing (as
# root). Takes about a minute.
set -eu

. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-100}
SIZES="1 1000 5000 20000"
bench_setup

# The files, from the [profile role] bench_setup wrote (its role in moto).
INDEX_MIN=262144
"$PY" - "$BENCH_TMP" "$ROLE_ARN" $SIZES <<'EOF'
import sys
tmp, role_arn, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]
roles = ["AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "Billing"]
for n in sizes:
    with open(f"{tmp}/config-{n}", "w") as f:
        f.write("[sso-session corp]\n"
                "sso_start_url = https://corp.awsapps.com/start\n"
                "sso_region = us-east-1\n"
                "sso_registration_scopes = sso:account:access\n\n")
        for i in range(n - 1):
            acct = "%012d" % (100000000000 + i // len(roles))
            role = roles[i % len(roles)]
            f.write(f"[profile {acct}-{role}]\n"
                    "sso_session = corp\n"
                    f"sso_account_id = {acct}\n"
                    f"sso_role_name = {role}\n"
                    "region = us-east-1\n"
                    "output = json\n\n")
        f.write(f"[profile role]\nrole_arn = {role_arn}\nsource_profile = base\n\n"
                "[profile base]\n"
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
EOF

# An index is only written for a file whose ctime is 3 s old (src/config.c).
sleep 3

LINK=$BENCH_TMP/config-link
use() {
	ln -sfn "config-$1" "$LINK"
}
export AWS_CONFIG_FILE=$LINK

# Each file once before timing (warming the cache for `role`, with STS up).
FAILED=
TIMED=
for n in $SIZES; do
	use "$n"
	if "$BIN" --profile base >/dev/null 2>"$BENCH_TMP/err-$n"; then
		TIMED="$TIMED $n"
	else
		FAILED="$FAILED $n"
		echo "# NOTE: $n profiles refused, not timed: $(head -c 300 "$BENCH_TMP/err-$n")" >&2
	fi
done
HIT_SIZES=
for n in 1 20000; do
	case " $TIMED " in *" $n "*) ;; *) continue ;; esac
	use "$n"
	"$BIN" --profile role >"$BENCH_TMP/role-$n.json" 2>"$BENCH_TMP/role-$n.err" ||
		{ cat "$BENCH_TMP/role-$n.err" >&2; bench_die "aws-credproc --profile role failed ($n profiles)"; }
	HIT_SIZES="$HIT_SIZES $n"
done
[ -n "$TIMED" ] || bench_die "every file was refused"

# From here on there is no STS: `role` must answer from the cache.
bench_stop_moto
for n in $HIT_SIZES; do
	use "$n"
	"$BIN" --profile role >"$BENCH_TMP/role2-$n.json" 2>"$BENCH_TMP/role2-$n.err" ||
		{ cat "$BENCH_TMP/role2-$n.err" >&2; bench_die "no cache hit for role ($n profiles) with STS stopped"; }
	cmp -s "$BENCH_TMP/role-$n.json" "$BENCH_TMP/role2-$n.json" ||
		bench_die "the hit printed other credentials than the warm-up ($n profiles)"
done

set --
for n in $TIMED; do
	set -- "$@" --prepare "ln -sfn config-$n $LINK" -n "static-$n" "$BIN --profile base"
done
for n in $HIT_SIZES; do
	set -- "$@" --prepare "ln -sfn config-$n $LINK" -n "hit-$n" "$BIN --profile role"
done
for n in $TIMED; do
	[ "$(wc -c <"$BENCH_TMP/config-$n")" -ge "$INDEX_MIN" ] || continue
	set -- "$@" --prepare "sh -c 'ln -sfn config-$n $LINK && rm -f $CACHE_DIR/*.idx'" \
		-n "cold-$n" "$BIN --profile base"
done
echo "# timing: $RUNS runs each; files:$(for n in $TIMED; do printf ' %s=%s' "$n" "$(wc -c <"$BENCH_TMP/config-$n")"; done) bytes"
hyperfine -N --style basic --warmup 10 --runs "$RUNS" --export-json "$BENCH_TMP/scale.json" "$@"

"$PY" - "$BENCH_TMP/scale.json" "$BIN" "$FAILED" <<'EOF'
import json, math, sys
path, binary, failed = sys.argv[1:4]
r = {x["command"]: x for x in json.load(open(path))["results"]}

def ms(x):
    return f'{x["mean"] * 1e3:8.2f} ± {x["stddev"] * 1e3:5.2f} ms  (median {x["median"] * 1e3:.2f})'

def ratio(a, b):
    q = a["mean"] / b["mean"]
    return q, q * math.hypot(a["stddev"] / a["mean"], b["stddev"] / b["mean"])

print()
print(f"aws-credproc config-scale benchmark  ({binary})")
for kind, base, what in (("static", "static-1", "--profile base (static keys, last)"),
                         ("hit", "hit-1", "--profile role (cache hit, at the end)"),
                         ("cold", "static-1", "--profile base, no index yet (read whole, index written)")):
    rows = sorted((int(k.split("-")[1]), k) for k in r if k.startswith(kind + "-"))
    if not rows:
        continue
    print(f"  {what}")
    for n, k in rows:
        line = f"    {n:>6} profiles  {ms(r[k])}"
        if base in r and k != base:
            q, e = ratio(r[k], r[base])
            line += f"   {q:5.2f} ± {e:.2f}x"
            if n == 20000 and kind != "cold":
                line += f"   target <= 1.5x  {'PASS' if q <= 1.5 else 'MISS'}"
        print(line)
for n in failed.split():
    print(f"  {n} profiles: refused by the binary, not timed")
sys.exit(1 if failed.split() else 0)
EOF
