#!/bin/sh
# tests/check.sh - set up, build and run every test; ends with "N passed, N failed, N skipped".
#
# Installs missing Debian packages (as root), builds with Meson into
# $BUILD_DIR (default: build), runs the unit/conformance programs (TAP, via
# `meson test`) and the end-to-end suite (tests/e2e/run.py: the built binary
# against moto and loopback servers), then counts the TAP results.
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-check.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT INT TERM

say() { printf '%s\n' "check: $*" >&2; }

# 1. Packages.
. "$SRC/tests/deps.sh"
cp_deps_install || { say "cannot install the build and test dependencies"; echo "0 passed, 1 failed"; exit 1; }

# Conformance data: ../shared/conformance next to the tree unless given.
if [ -z "${AWS_CREDPROC_CONFORMANCE_DIR:-}" ] && [ ! -d "$SRC/../shared/conformance" ]; then
	for d in /work/shared/conformance; do
		[ -d "$d" ] && export AWS_CREDPROC_CONFORMANCE_DIR="$d" && break
	done
fi

# 2. Build.
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
	meson setup "$BUILD_DIR" "$SRC" >"$LOGDIR/setup.log" 2>&1 ||
		{ cat "$LOGDIR/setup.log" >&2; say "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! meson compile -C "$BUILD_DIR" >"$LOGDIR/build.log" 2>&1; then
	cat "$LOGDIR/build.log" >&2
	say "build failed"; echo "0 passed, 1 failed"; exit 1
fi
if grep -q "warning:" "$LOGDIR/build.log"; then
	grep "warning:" "$LOGDIR/build.log" >&2
	say "the build has warnings"
fi

# 3. Unit and conformance tests (TAP).
meson test -C "$BUILD_DIR" --print-errorlogs >"$LOGDIR/meson-test.log" 2>&1
unit_rc=$?
cat "$LOGDIR/meson-test.log" >&2
cp "$BUILD_DIR/meson-logs/testlog.txt" "$LOGDIR/unit.tap" 2>/dev/null || : >"$LOGDIR/unit.tap"

# 4. End-to-end tests (TAP).
net_module=$(meson introspect --buildoptions "$BUILD_DIR" 2>/dev/null |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="net_module"][0] and "true" or "false")' 2>/dev/null || echo true)
CREDPROC_TEST_NET_MODULE=$net_module AWS_CREDPROC_BIN="$BUILD_DIR/cmd/aws-credproc" python3 "$SRC/tests/e2e/run.py" >"$LOGDIR/e2e.tap" 2>"$LOGDIR/e2e.err"
e2e_rc=$?
cat "$LOGDIR/e2e.tap" >&2
tail -n 50 "$LOGDIR/e2e.err" >&2

# 5. Count.
count() { grep -E "$1" "$2" 2>/dev/null | wc -l | tr -d ' '; }
passed=0 failed=0 skipped=0
for f in "$LOGDIR/unit.tap" "$LOGDIR/e2e.tap"; do
	p=$(count '^ok [0-9]+' "$f"); s=$(count '^ok [0-9]+.*# SKIP' "$f")
	S=$(count '^1\.\.0 # SKIP' "$f"); n=$(count '^not ok [0-9]+' "$f")
	passed=$((passed + p - s)); skipped=$((skipped + s + S)); failed=$((failed + n))
done
# A program that failed without a failing TAP line (crash, bad plan) still counts.
if [ "$unit_rc" != 0 ] && [ "$(count '^not ok' "$LOGDIR/unit.tap")" = 0 ]; then
	say "meson test failed without a failing TAP line"; failed=$((failed + 1))
fi
if [ "$e2e_rc" != 0 ] && [ "$(count '^not ok' "$LOGDIR/e2e.tap")" = 0 ]; then
	say "the end-to-end suite failed without a failing TAP line"; failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
