#!/bin/sh
# run.sh - runs every libFuzzer target for a while and reports TAP.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]
#
# BUILD_DIR is a build set up with -Dfuzz=true (see tests/fuzz/meson.build).
# For each target (default: all of them), one after the other:
#   - a temporary corpus directory gets the repository's seeds
#     (tests/fuzz/corpus/<target>/) plus seeds taken from the conformance
#     data at run time (never copied into the repository; ../shared is
#     read-only, so the fuzzer writes only to the temporary copy);
#   - the target runs -jobs=1 for SECONDS_PER_TARGET seconds, in a temporary
#     working directory (libFuzzer's job log fuzz-0.log goes there);
#   - "ok N - fuzz <target>: <execs> executions in <s> s", or "not ok" with
#     the crash artifact's path, the sanitizer summary and the reproducer's
#     first bytes in hex.
# Ends with the plan and "# total: X executions in Y s". Exits 1 when any
# target crashed (crash, leak, timeout, out-of-memory or invariant failure),
# 2 on a usage error.
#
# The conformance data: $AWS_CREDPROC_CONFORMANCE_DIR, else
# ../shared/conformance next to the source tree, else /work/shared/conformance.
# Without it the targets run on the repository seeds only (under CI=true its
# absence is an error, as for the other suites).
#
# Crash artifacts are kept in $FUZZ_ARTIFACT_DIR (default: a new
# /tmp/aws-credproc-fuzz-artifacts.XXXXXX, removed again when empty).
set -u

ALL_TARGETS="config sts-xml cache-entry imds-json process-json login-json rolesanywhere-json"

usage() {
	echo "usage: $0 BUILD_DIR SECONDS_PER_TARGET [TARGET...]" >&2
	echo "targets: $ALL_TARGETS" >&2
	exit 2
}

[ $# -ge 2 ] || usage
BUILD=$1
SECS=$2
shift 2
case $SECS in '' | *[!0-9]*) usage ;; esac
[ "$SECS" -gt 0 ] || usage
TARGETS=${*:-$ALL_TARGETS}

HERE=$(cd "$(dirname "$0")" && pwd)
SRCROOT=$(cd "$HERE/../.." && pwd)

for t in $TARGETS; do
	if [ ! -x "$BUILD/tests/fuzz/fuzz-$t" ]; then
		echo "Bail out! $BUILD/tests/fuzz/fuzz-$t is missing: set up the build with -Dfuzz=true (clang) and build it" 
		exit 2
	fi
done

CONF=
if [ -n "${AWS_CREDPROC_CONFORMANCE_DIR:-}" ]; then
	CONF=$AWS_CREDPROC_CONFORMANCE_DIR
elif [ -d "$SRCROOT/../shared/conformance" ]; then
	CONF=$(cd "$SRCROOT/../shared/conformance" && pwd)
elif [ -d /work/shared/conformance ]; then
	CONF=/work/shared/conformance
fi
if [ -n "$CONF" ] && [ ! -d "$CONF" ]; then
	CONF=
fi
if [ -z "$CONF" ]; then
	if [ "${CI:-}" = true ]; then
		echo "Bail out! conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR); CI=true requires it"
		exit 2
	fi
	echo "# conformance data not found: seeding from the repository corpus only"
else
	echo "# conformance data: $CONF"
fi
if [ -n "$CONF" ] && ! command -v python3 >/dev/null 2>&1; then
	echo "# python3 not found: JSON-embedded conformance seeds are skipped"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-fuzz.XXXXXX") || exit 2
if [ -n "${FUZZ_ARTIFACT_DIR:-}" ]; then
	ART=$FUZZ_ARTIFACT_DIR
	mkdir -p "$ART" || exit 2
	ART_OWN=0
else
	ART=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-fuzz-artifacts.XXXXXX") || exit 2
	ART_OWN=1
fi
ART=$(cd "$ART" && pwd)
cleanup() {
	rm -rf "$WORK"
	if [ "$ART_OWN" = 1 ]; then
		rmdir "$ART" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Undefined behaviour and leaks are crashes. A repeated sanitizer option
# takes its last value, so the caller's settings (appended) win.
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# copy_files DEST FILE...: copies regular files under a name made unique
# by a counter (different upstream folders reuse names).
SEQ=0
copy_files() {
	dest=$1
	shift
	for f in "$@"; do
		[ -f "$f" ] || continue
		SEQ=$((SEQ + 1))
		cp "$f" "$dest/conf-$SEQ-$(basename "$f")" 2>/dev/null
	done
}

# extract_json KIND DEST: seeds embedded in the conformance JSON files.
#   profiles: configFile/credentialsFile of profile-parser-tests.json,
#             joined by the "#%credentials" line fuzz-config.c splits on;
#   json-bodies / xml-bodies: HTTP response bodies of the smithy-rs
#             recordings (credential-chains/**/http-traffic.json) that look
#             like JSON / XML.
extract_json() {
	command -v python3 >/dev/null 2>&1 || return 0
	python3 - "$CONF" "$1" "$2" <<'EOF'
import hashlib, json, os, sys
conf, kind, dest = sys.argv[1:4]

def put(text):
    data = text.encode("utf-8", "surrogatepass")
    name = "conf-" + kind + "-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(dest, name), "wb") as f:
        f.write(data)

if kind == "profiles":
    path = os.path.join(conf, "profile-parsing/smithy-rs/profile-parser-tests.json")
    try:
        tests = json.load(open(path, encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError):
        tests = []
    for t in tests:
        inp = t.get("input") or {}
        c, k = inp.get("configFile"), inp.get("credentialsFile")
        if c is not None and k is not None:
            put(c + ("" if c.endswith("\n") or not c else "\n") + "#%credentials\n" + k)
        elif c is not None:
            put(c)
        elif k is not None:
            put("#%credentials\n" + k)
else:
    want = "{" if kind == "json-bodies" else "<"
    for d, _, files in os.walk(os.path.join(conf, "credential-chains")):
        if "http-traffic.json" not in files:
            continue
        try:
            events = json.load(open(os.path.join(d, "http-traffic.json"), encoding="utf-8"))["events"]
        except (OSError, ValueError, KeyError):
            continue
        for e in events:
            data = (e.get("action") or {}).get("Data") or {}
            if data.get("direction") != "Response":
                continue
            body = (data.get("data") or {}).get("Utf8")
            if isinstance(body, str) and body.lstrip().startswith(want):
                put(body)
EOF
}

# seed TARGET DEST: the repository seeds, then the conformance seeds.
seed() {
	target=$1
	dest=$2
	if [ -d "$HERE/corpus/$target" ]; then
		cp "$HERE/corpus/$target"/* "$dest"/ 2>/dev/null
	fi
	[ -n "$CONF" ] || return 0
	case $target in
	config)
		# Every input file under profile-parsing (not the JSON suites,
		# the *_expected JSON or the license texts) ...
		copy_files "$dest" $(find "$CONF/profile-parsing" -type f \
			! -name '*.json' ! -name '*_expected' ! -name 'LICENSE*' ! -name 'NOTICE*' 2>/dev/null | sort)
		# ... the texts inside the smithy-rs parser suite, and the config
		# and credentials files of the credential-chain cases and of the
		# credential_process fixtures (resolution on real chains).
		extract_json profiles "$dest"
		copy_files "$dest" $(find "$CONF/credential-chains" -type f \
			\( -name config -o -name credentials \) 2>/dev/null | sort)
		copy_files "$dest" $(find "$CONF/credential-process" -type f -name '*.ini' 2>/dev/null | sort)
		;;
	sts-xml)
		copy_files "$dest" $(find "$CONF/sts/xml-samples" -type f -name '*.xml' 2>/dev/null | sort)
		copy_files "$dest" $(find "$CONF/sts/botocore/response_parsing" -type f -name '*.xml' 2>/dev/null | sort)
		extract_json xml-bodies "$dest"
		;;
	imds-json | process-json)
		copy_files "$dest" $(find "$CONF/credential-process" -type f -name '*.json' 2>/dev/null | sort)
		extract_json json-bodies "$dest"
		;;
	esac
	return 0
}

# The value of "stat::NAME:" in a libFuzzer log (empty if absent).
stat() {
	sed -n "s/^stat::$1:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$2" | tail -n 1
}

now() {
	date +%s
}

N=0
FAILED=0
TOTAL_EXECS=0
TOTAL_SECS=0
for t in $TARGETS; do
	N=$((N + 1))
	bin=$(cd "$BUILD/tests/fuzz" && pwd)/fuzz-$t
	corpus=$WORK/$t/corpus
	run=$WORK/$t/run
	mkdir -p "$corpus" "$run"
	seed "$t" "$corpus"
	nseeds=$(find "$corpus" -type f | wc -l | tr -d ' ')
	case $t in
	config | sts-xml) dict=$HERE/$t.dict ;;
	*) dict=$HERE/json.dict ;;
	esac

	marker=$WORK/$t/started
	: >"$marker"
	start=$(now)
	(
		cd "$run" &&
			exec "$bin" -jobs=1 -max_total_time="$SECS" -print_final_stats=1 -timeout=10 \
				-rss_limit_mb=2048 -artifact_prefix="$ART/$t-" -dict="$dict" "$corpus"
	) >"$run/driver.log" 2>&1
	rc=$?
	secs=$(($(now) - start))

	log=$run/fuzz-0.log
	[ -f "$log" ] || log=$run/driver.log
	execs=$(stat number_of_executed_units "$log")
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
	[ -n "$execs" ] || execs=0
	done_secs=$(sed -n 's/^Done [0-9]* runs in \([0-9][0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	[ -n "$done_secs" ] && secs=$done_secs
	TOTAL_EXECS=$((TOTAL_EXECS + execs))
	TOTAL_SECS=$((TOTAL_SECS + secs))

	artifact=$(find "$ART" -maxdepth 1 -type f -name "$t-*" -newer "$marker" 2>/dev/null | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
		echo "ok $N - fuzz $t: $execs executions in $secs s"
		echo "#   seeds: $nseeds, corpus after: $(find "$corpus" -type f | wc -l | tr -d ' ')"
		continue
	fi
	FAILED=$((FAILED + 1))
	if [ -n "$artifact" ]; then
		echo "not ok $N - fuzz $t: crashed after $execs executions in $secs s; artifact $artifact"
	else
		echo "not ok $N - fuzz $t: libFuzzer exited with status $rc after $execs executions in $secs s (no artifact)"
	fi
	grep -m 1 -E '^==[0-9]+==ERROR|runtime error:|fuzz invariant failed|ERROR: libFuzzer' "$log" | sed 's/^/#   /'
	grep -m 8 -E '^ +#[0-9]+ ' "$log" | sed 's/^ */#     /'
	grep -m 1 '^SUMMARY:' "$log" | sed 's/^/#   /'
	if [ -n "$artifact" ]; then
		echo "#   reproducer: $(wc -c <"$artifact" | tr -d ' ') bytes, first 64 in hex:"
		od -An -tx1 -N64 "$artifact" | sed 's/^ */#     /'
		echo "#   rerun: $bin $artifact"
	fi
	# Keep the log next to the artifact: WORK is removed on exit.
	cp "$log" "$ART/$t.log" 2>/dev/null && echo "#   full log: $ART/$t.log"
done

echo "1..$N"
echo "# total: $TOTAL_EXECS executions in $TOTAL_SECS s"
if [ "$FAILED" -gt 0 ]; then
	echo "# $FAILED of $N targets crashed; artifacts in $ART"
	exit 1
fi
exit 0
