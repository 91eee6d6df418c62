#!/bin/sh
# packaging/deb.sh OUTDIR - build the Debian source and binary packages and
# lint them.
#
# Takes the release tarball made by `meson dist` (AWS_CREDPROC_TARBALL, or
# made here with dist.sh: the committed tree, not the working tree) as
# aws-credproc_VERSION.orig.tar.gz, unpacks it in a temporary directory,
# puts its packaging/debian/ at the top with the maintainer and homepage of
# packaging/maintainer filled in (meta.sh), runs `dpkg-buildpackage -us -uc`
# (source and binary: .dsc, .debian.tar.xz, .deb), copies them (and the
# .orig.tar.gz, .buildinfo, .changes) to OUTDIR and runs lintian on the
# .changes (which covers the .dsc and the .deb).
# Exits non-zero when the build fails or lintian reports any error or
# warning (info and pedantic tags are printed, not fatal).
#
# Needs: dpkg-dev debhelper fakeroot lintian and the Build-Depends of
# packaging/debian/control (checked with dpkg-checkbuilddeps).
# Environment: AWS_CREDPROC_TARBALL (the meson dist tarball to build from);
# AWS_CREDPROC_CONFORMANCE_DIR is passed to the build's
# `meson test` (default: ../shared/conformance next to the tree, if present).
# KEEP_TMP=1 keeps the temporary build directory.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)

for t in dpkg-buildpackage dpkg-parsechangelog dh lintian fakeroot; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "deb.sh: '$t' not found (apt-get install dpkg-dev debhelper fakeroot lintian)" >&2
		exit 2
	}
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-deb.XXXXXX")
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "deb.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ver=$(dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version 2>/dev/null)
upver=${ver%-*}
mesonver=$(sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -n 1)
if [ "$upver" != "$mesonver" ]; then
	echo "deb.sh: debian/changelog says $ver, meson.build says $mesonver (add a changelog entry: dch -v $mesonver-1)" >&2
	exit 1
fi
. "$SRC/packaging/meta.sh"
cp_meta "$SRC" || { echo "deb.sh: see packaging/maintainer" >&2; exit 1; }

tarball=$(cp_tarball "$SRC" "$tmp" "$upver" deb.sh) || exit 1
cp "$tarball" "$tmp/aws-credproc_$upver.orig.tar.gz"
tree="$tmp/aws-credproc-$upver"
tar -C "$tmp" -xzf "$tmp/aws-credproc_$upver.orig.tar.gz"
[ -d "$tree/packaging/debian" ] || { echo "deb.sh: the tarball has no aws-credproc-$upver/packaging/debian" >&2; exit 1; }
rm -rf "$tree/debian"
cp -a "$tree/packaging/debian" "$tree/debian"
cp_meta_subst "$tree/debian/control" "$tree/debian/changelog"

if [ -z "${AWS_CREDPROC_CONFORMANCE_DIR:-}" ] && [ -d "$SRC/../shared/conformance" ]; then
	AWS_CREDPROC_CONFORMANCE_DIR=$(cd "$SRC/../shared/conformance" && pwd)
	export AWS_CREDPROC_CONFORMANCE_DIR
fi

echo "deb.sh: building aws-credproc $ver in $tmp" >&2
(cd "$tree" && dpkg-checkbuilddeps) || {
	echo "deb.sh: missing build dependencies (see above)" >&2
	exit 1
}
if ! (cd "$tree" && dpkg-buildpackage -us -uc) >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log" >&2
	echo "deb.sh: dpkg-buildpackage failed (log above, last 60 lines)" >&2
	exit 1
fi
# dpkg-shlibdeps and dh_* warnings are worth seeing even when the build passes.
grep -E '^(dpkg-shlibdeps|dh_[a-z_]+|dpkg-gencontrol): (warning|error)' "$tmp/build.log" >&2 || true

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
changes="$tmp/aws-credproc_${ver}_${arch}.changes"
cp "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.dsc "$tmp"/*.debian.tar.* "$tmp"/*.orig.tar.gz "$changes" "$OUT"/
# The meson test summary, for the record.
sed -n '/^Ok:/,/^Timeout:/p' "$tmp/build.log" | sed 's/^/deb.sh: meson test: /' >&2

# lintian: errors and warnings fail; info/pedantic/experimental are shown.
lintian --display-info --display-experimental --pedantic --tag-display-limit 0 "$OUT/aws-credproc_${ver}_${arch}.changes" \
	>"$tmp/lintian.log" 2>&1 || true
grep -v '^running with root privileges is not recommended' "$tmp/lintian.log" || true
if grep -qE '^[EW]: ' "$tmp/lintian.log"; then
	echo "deb.sh: lintian reports errors or warnings" >&2
	exit 1
fi
echo "deb.sh: $OUT/aws-credproc_${ver}.dsc"
echo "deb.sh: $OUT/aws-credproc_${ver}_${arch}.deb (lintian: no errors or warnings)"
