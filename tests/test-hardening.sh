#!/bin/sh
# test-hardening.sh - the built binaries are hardened as DESIGN.md requires:
# PIE, full RELRO, non-executable stack, stack protector, FORTIFY.
#
#   sh tests/test-hardening.sh EXECUTABLE [NETWORK_MODULE]
#
# meson test passes build/cmd/aws-credproc and, when the net_module option is
# true, build/src/credproc-net.so. CREDPROC_OPTIMIZATION is meson's
# `optimization` option: FORTIFY needs an optimized build (meson.build adds
# -D_FORTIFY_SOURCE=2 only when it is not 0 or g), so the FORTIFY check is
# skipped for those. TAP on stdout.

set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 EXECUTABLE [NETWORK_MODULE]" >&2
	exit 2
fi

n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

if ! command -v readelf >/dev/null 2>&1; then
	echo "1..0 # SKIP readelf not found (binutils)"
	exit 0
fi

optimization=${CREDPROC_OPTIMIZATION:-}
case $optimization in
0 | g) fortify_expected=no ;;
*) fortify_expected=yes ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/credproc-hardening.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# check FILE LABEL KIND   (KIND: exe | module)
check() {
	f=$1 label=$2 kind=$3
	if [ ! -f "$f" ]; then
		not_ok "$label: $f exists" "no such file: $f"
		return
	fi
	if ! readelf -hW "$f" >"$tmp/h" 2>"$tmp/err" || ! readelf -lW "$f" >"$tmp/l" 2>>"$tmp/err" ||
	    ! readelf -dW "$f" >"$tmp/d" 2>>"$tmp/err" ||
	    ! readelf --dyn-syms -W "$f" >"$tmp/s" 2>>"$tmp/err"; then
		not_ok "$label: readelf can read $f" "$(cat "$tmp/err")"
		return
	fi

	# ELF type DYN: position-independent (a PIE executable, or a shared object)
	type=$(sed -n 's/^ *Type: *//p' "$tmp/h")
	case $type in
	DYN*) ok "$label: ELF type DYN ($type)" ;;
	*) not_ok "$label: ELF type DYN" "ELF type is '$type'" ;;
	esac

	# PIE: DT_FLAGS_1 carries PIE (set by the linker for -pie executables)
	if [ "$kind" = exe ]; then
		flags1=$(grep '(FLAGS_1)' "$tmp/d")
		case $flags1 in
		*PIE*) ok "$label: PIE (DT_FLAGS_1 has PIE)" ;;
		*) not_ok "$label: PIE (DT_FLAGS_1 has PIE)" "FLAGS_1: ${flags1:-(none)}" ;;
		esac
	fi

	# full RELRO: a GNU_RELRO segment, and immediate binding
	if grep -q '^ *GNU_RELRO' "$tmp/l"; then
		ok "$label: GNU_RELRO segment"
	else
		not_ok "$label: GNU_RELRO segment" "no GNU_RELRO program header (link with -z relro)"
	fi
	if grep -q '(BIND_NOW)' "$tmp/d" || grep -E '\((FLAGS|FLAGS_1)\)' "$tmp/d" | grep -qE '[[:space:]](BIND_NOW|NOW)([[:space:]]|$)'; then
		ok "$label: BIND_NOW (full RELRO)"
	else
		not_ok "$label: BIND_NOW (full RELRO)" "no BIND_NOW / FLAGS NOW (link with -z now):" \
			"$(grep -E '\((FLAGS|FLAGS_1|BIND_NOW)\)' "$tmp/d")"
	fi

	# non-executable stack: GNU_STACK present, without E
	stack=$(grep '^ *GNU_STACK' "$tmp/l")
	if [ -z "$stack" ]; then
		not_ok "$label: non-executable stack" "no GNU_STACK program header: the stack defaults to executable"
	elif echo "$stack" | grep -qE '[[:space:]]R?W?E[[:space:]]+0x'; then
		not_ok "$label: non-executable stack" "$stack"
	else
		ok "$label: non-executable stack"
	fi

	# no segment both writable and executable, no text relocations
	if grep -E '^ *LOAD' "$tmp/l" | grep -qE '[[:space:]]RWE[[:space:]]'; then
		not_ok "$label: no writable and executable segment" "$(grep -E '^ *LOAD' "$tmp/l")"
	else
		ok "$label: no writable and executable segment"
	fi
	if grep -q '(TEXTREL)' "$tmp/d" || grep -E '\(FLAGS\)' "$tmp/d" | grep -q TEXTREL; then
		not_ok "$label: no text relocations" "$(grep TEXTREL "$tmp/d")"
	else
		ok "$label: no text relocations"
	fi

	# stack protector: __stack_chk_fail referenced
	if grep -qE '[[:space:]]__stack_chk_fail(@|$)' "$tmp/s"; then
		ok "$label: stack protector (__stack_chk_fail referenced)"
	else
		not_ok "$label: stack protector (__stack_chk_fail referenced)" \
			"no reference to __stack_chk_fail (-fstack-protector-strong missing?)"
	fi

	# FORTIFY: checked variants of libc functions (__snprintf_chk, __memcpy_chk...)
	chk=$(grep -oE '[[:space:]]__[a-z0-9_]+_chk(@|$)' "$tmp/s" | tr -d ' \t@' |
		grep -v '^__stack_chk' | sort -u | tr '\n' ' ')
	if [ "$fortify_expected" = no ]; then
		skip "$label: FORTIFY (__*_chk referenced)" "optimization=$optimization: meson.build enables FORTIFY only in optimized builds"
	elif [ -n "$chk" ]; then
		ok "$label: FORTIFY (${chk% })"
	else
		not_ok "$label: FORTIFY (__*_chk referenced)" \
			"no __*_chk symbol referenced (optimization=${optimization:-unknown}): -D_FORTIFY_SOURCE not in effect?"
	fi
}

check "$1" "aws-credproc" exe
if [ $# -eq 2 ]; then
	check "$2" "$(basename "$2")" module
fi

echo "1..$n"
[ "$failed" -eq 0 ]
