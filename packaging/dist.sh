#!/bin/sh
# packaging/dist.sh OUTDIR - make the release tarball with `meson dist`.
#
# Configures a throwaway build directory and runs
# `meson dist --no-tests --formats gztar`, which packs the git checkout's
# HEAD (committed files only: nothing untracked, no uncommitted change; a
# warning is printed when the tree has any) as aws-credproc-VERSION.tar.gz,
# and copies the tarball (and its .sha256sum) to OUTDIR. Prints the
# tarball's path on stdout.
# --no-tests: the packages built from the tarball (deb.sh, rpm.sh) configure,
# build and run `meson test` from it, which is what meson dist's own test run
# would do a third time.
# Needs a git checkout (meson dist does) and meson, ninja, and the build
# dependencies (meson dist configures the project first).
# KEEP_TMP=1 keeps the temporary build directory.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)

git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
	echo "dist.sh: $SRC is not a git checkout (meson dist needs one)" >&2
	exit 2
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-dist.XXXXXX")
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "dist.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=normal)" ]; then
	echo "dist.sh: warning: the tree has uncommitted or untracked files; the tarball holds HEAD ($(git -C "$SRC" rev-parse --short HEAD)) only" >&2
fi
meson setup "$tmp/build" "$SRC" >"$tmp/setup.log" 2>&1 || {
	cat "$tmp/setup.log" >&2
	echo "dist.sh: meson setup failed" >&2
	exit 1
}
meson dist -C "$tmp/build" --no-tests --formats gztar --allow-dirty >"$tmp/dist.log" 2>&1 || {
	cat "$tmp/dist.log" >&2
	echo "dist.sh: meson dist failed" >&2
	exit 1
}
tarball=
for f in "$tmp"/build/meson-dist/aws-credproc-*.tar.gz; do [ -f "$f" ] && tarball=$f; done
[ -n "$tarball" ] || { echo "dist.sh: meson dist made no tarball" >&2; exit 1; }
cp "$tarball" "$tarball.sha256sum" "$OUT"/
echo "$OUT/$(basename "$tarball")"
