#!/bin/sh
# tests/check.sh - set up, build and run every test; ends with
# "N passed, N failed, N skipped".
#
# Phases (each produces TAP; the counts add up):
#   1. packages: installs what is missing (as root);
#   2. build ($BUILD_DIR, default build/), zero warnings expected;
#   3. unit and conformance programs (`meson test`);
#   4. end-to-end suite (tests/e2e/run.py: the built binary against moto and
#      loopback servers);
#   5. the same unit and end-to-end suites built with ASan+UBSan;
#   6. valgrind memcheck on the main end-to-end paths;
#   7. each libFuzzer target for $FUZZ_SECONDS (default 60) under ASan+UBSan;
#   8. the Debian and RPM packages: build, lintian, install, run the demo;
#   9. tests/demo.sh from a clean clone in a fresh Debian 12 root
#      (mmdebstrap: Debian packages only, no python3, moto or pip).
# CHECK_QUICK=1 runs phases 1-4 only (for a quick local loop).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
QUICK=${CHECK_QUICK:-0}
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-check.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT INT TERM

say() { printf '%s\n' "check: $*" >&2; }
extra_failures=0
fail_phase() { say "$*"; extra_failures=$((extra_failures + 1)); }

# 1. Packages.
. "$SRC/tests/deps.sh"
cp_deps_install || { say "cannot install the build and test dependencies"; echo "0 passed, 1 failed"; exit 1; }

# Conformance data: ../shared/conformance next to the tree unless given.
if [ -z "${AWS_CREDPROC_CONFORMANCE_DIR:-}" ] && [ ! -d "$SRC/../shared/conformance" ]; then
	for d in /work/shared/conformance; do
		[ -d "$d" ] && export AWS_CREDPROC_CONFORMANCE_DIR="$d" && break
	done
fi

# build DIR [meson options...]: configures (once) and compiles; 0 on success.
build() {
	dir=$1; shift
	log="$LOGDIR/build-$(basename "$dir").log"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$SRC" "$@" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
	fi
	meson compile -C "$dir" >>"$log" 2>&1 || { cat "$log" >&2; return 1; }
	if grep -q "warning:" "$log"; then
		grep "warning:" "$log" >&2
		fail_phase "the build in $dir has compiler warnings"
	fi
	return 0
}

# units DIR NAME: meson test, TAP copied to $LOGDIR/NAME.tap
units() {
	meson test -C "$1" --print-errorlogs >"$LOGDIR/$2.log" 2>&1
	rc=$?
	cat "$LOGDIR/$2.log" >&2
	cp "$1/meson-logs/testlog.txt" "$LOGDIR/$2.tap" 2>/dev/null || : >"$LOGDIR/$2.tap"
	if [ "$rc" != 0 ] && ! grep -qE '^not ok' "$LOGDIR/$2.tap"; then
		fail_phase "meson test in $1 failed without a failing TAP line"
	fi
}

net_module_of() {
	meson introspect --buildoptions "$1" 2>/dev/null | python3 -c '
import json, sys
print("true" if [o["value"] for o in json.load(sys.stdin) if o["name"] == "net_module"][0] else "false")' \
		2>/dev/null || echo true
}

# e2e BIN NAME [run.py args...]: the end-to-end suite, TAP in $LOGDIR/NAME.tap
e2e() {
	bin=$1 name=$2; shift 2
	CREDPROC_TEST_NET_MODULE=${NET_MODULE:-true} AWS_CREDPROC_BIN="$bin" \
		python3 "$SRC/tests/e2e/run.py" "$@" >"$LOGDIR/$name.tap" 2>"$LOGDIR/$name.err"
	rc=$?
	cat "$LOGDIR/$name.tap" >&2
	tail -n 50 "$LOGDIR/$name.err" >&2
	if [ "$rc" != 0 ] && ! grep -qE '^not ok' "$LOGDIR/$name.tap"; then
		fail_phase "the end-to-end suite ($name) failed without a failing TAP line"
	fi
}

# tap NAME WHAT CMD [ARGS...]: runs a script that prints TAP, TAP in
# $LOGDIR/NAME.tap; a failure with no failing TAP line counts as one (WHAT
# names it) and shows the end of its stderr.
tap() {
	name=$1 what=$2; shift 2
	"$@" >"$LOGDIR/$name.tap" 2>"$LOGDIR/$name.err"
	rc=$?
	cat "$LOGDIR/$name.tap" >&2
	if [ "$rc" != 0 ] && ! grep -qE '^not ok' "$LOGDIR/$name.tap"; then
		tail -n 40 "$LOGDIR/$name.err" >&2
		fail_phase "$what failed without a failing TAP line"
	fi
}

# 2-4. The ordinary build.
build "$BUILD_DIR" || { say "build failed"; echo "0 passed, 1 failed"; exit 1; }
units "$BUILD_DIR" unit
NET_MODULE=$(net_module_of "$BUILD_DIR") e2e "$BUILD_DIR/cmd/aws-credproc" e2e

if [ "$QUICK" != 1 ]; then
	# 5. ASan + UBSan: every unit and end-to-end test again.
	SAN_DIR="$BUILD_DIR-sanitize"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
	if build "$SAN_DIR" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
		units "$SAN_DIR" unit-sanitize
		NET_MODULE=$(net_module_of "$SAN_DIR") e2e "$SAN_DIR/cmd/aws-credproc" e2e-sanitize
	else
		fail_phase "the sanitizer build failed"
	fi
	unset ASAN_OPTIONS UBSAN_OPTIONS

	# 6. valgrind memcheck on the main paths: hit, miss, IMDS source, two-hop
	#    chain, static keys, each fault, the cache's trust boundaries.
	VG="$LOGDIR/valgrind-wrapper"
	cat >"$VG" <<EOF
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect "$BUILD_DIR/cmd/aws-credproc" "\$@"
EOF
	chmod +x "$VG"
	NET_MODULE=$(net_module_of "$BUILD_DIR") e2e "$VG" e2e-valgrind \
		-k test_static_and_roles.test_role_from_static_source \
		-k test_static_and_roles.test_two_hop_chain \
		-k test_static_and_roles.test_static_keys_profile \
		-k test_static_and_roles.test_external_id \
		-k test_imds.test_imds_source_assumes_role_in_moto \
		-k test_cache.test_cache_hit_skips_sts \
		-k test_fake_sts.test_chaining_duration_retry_imds_source \
		-k test_faults. -k test_clock_skew. -k test_failures.test_wrong_secret -k test_trust.
	if grep -q '==[0-9]*==' "$LOGDIR/e2e-valgrind.err" "$LOGDIR/e2e-valgrind.tap" 2>/dev/null; then
		say "valgrind reported errors"
	fi

	# 7. Fuzzing (clang + libFuzzer), each target for $FUZZ_SECONDS.
	FUZZ_DIR="$BUILD_DIR-fuzz"
	if [ -x "$SRC/tests/fuzz/run.sh" ]; then
		if CC=clang build "$FUZZ_DIR" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; then
			tap fuzz "the fuzzers" "$SRC/tests/fuzz/run.sh" "$FUZZ_DIR" "$FUZZ_SECONDS"
		else
			fail_phase "the fuzzing build failed"
		fi
	fi

	# 8. Packages (needs root: installs and removes the .deb).
	if [ "$(id -u)" = 0 ]; then
		tap packages "the package checks" "$SRC/packaging/check.sh"
	else
		say "not root: package checks skipped"
	fi

	# 9. The demo on a stock Debian 12 (root, mmdebstrap, the Debian mirror).
	tap demo-chroot "the demo in a Debian 12 root" "$SRC/tests/demo-chroot.sh"
fi

# Count.
count() { grep -E "$1" "$2" 2>/dev/null | wc -l | tr -d ' '; }
passed=0 failed=$extra_failures skipped=0
for f in "$LOGDIR"/*.tap; do
	[ -f "$f" ] || continue
	p=$(count '^ok [0-9]+' "$f"); s=$(count '^ok [0-9]+.*# SKIP' "$f")
	S=$(count '^1\.\.0 # SKIP' "$f"); n=$(count '^not ok [0-9]+' "$f")
	say "$(basename "$f" .tap): $((p - s)) passed, $n failed, $((s + S)) skipped"
	passed=$((passed + p - s)); skipped=$((skipped + s + S)); failed=$((failed + n))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
