#!/bin/sh
# packaging/rpm.sh OUTDIR - build the RPM binary and source packages.
#
# Takes the release tarball made by `meson dist` (AWS_CREDPROC_TARBALL, or
# made here with dist.sh: the committed tree, not the working tree), puts
# the maintainer and homepage of packaging/maintainer into the spec (see
# meta.sh), runs `rpmbuild -ba --nodeps` in a temporary _topdir, copies the
# .rpm files and the .src.rpm to OUTDIR and prints `rpm -qlp` and the
# requirements of the main package. --nodeps: on Debian the BuildRequires
# are Debian packages that rpm's database does not know; what the spec needs
# is the Build-Depends of packaging/debian/control.
# The spec uses Fedora's macros (%meson, %meson_build, %meson_install,
# %meson_test, the completion directories); where rpm lacks them (Debian's
# rpm) rpm/macros.fallback is loaded with --load, the spec is not changed.
#
# Needs: rpm (Debian's package provides rpmbuild) and the build dependencies.
# Environment: AWS_CREDPROC_TARBALL (the meson dist tarball to build from);
# AWS_CREDPROC_CONFORMANCE_DIR is passed to the spec's %check
# (default: ../shared/conformance next to the tree, if present).
# KEEP_TMP=1 keeps the temporary _topdir.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
SPEC="$SRC/packaging/rpm/aws-credproc.spec"

command -v rpmbuild >/dev/null 2>&1 || {
	echo "rpm.sh: 'rpmbuild' not found (apt-get install rpm)" >&2
	exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-rpm.XXXXXX")
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "rpm.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ver=$(rpmspec -q --srpm --qf '%{version}' "$SPEC" 2>/dev/null || sed -n 's/^Version:[[:space:]]*//p' "$SPEC")
mesonver=$(sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -n 1)
if [ "$ver" != "$mesonver" ]; then
	echo "rpm.sh: the spec says version $ver, meson.build says $mesonver" >&2
	exit 1
fi

. "$SRC/packaging/meta.sh"
cp_meta "$SRC" || { echo "rpm.sh: see packaging/maintainer" >&2; exit 1; }

mkdir -p "$tmp/SOURCES" "$tmp/SPECS"
tarball=$(cp_tarball "$SRC" "$tmp" "$ver" rpm.sh) || exit 1
cp "$tarball" "$tmp/SOURCES/"
cp "$SPEC" "$tmp/SPECS/aws-credproc.spec"
cp_meta_subst "$tmp/SPECS/aws-credproc.spec"
SPEC="$tmp/SPECS/aws-credproc.spec"

if [ -z "${AWS_CREDPROC_CONFORMANCE_DIR:-}" ] && [ -d "$SRC/../shared/conformance" ]; then
	AWS_CREDPROC_CONFORMANCE_DIR=$(cd "$SRC/../shared/conformance" && pwd)
	export AWS_CREDPROC_CONFORMANCE_DIR
fi

# Debian's rpm: its brp-compress says #!/bin/sh but uses bash's `read -d`
# (under dash it fails and man pages stay uncompressed): run it with bash.
# (Also Debian's rpm makes no -debuginfo package, and its brp-strip only
# strips debug sections; Fedora's find-debuginfo strips fully.)
set -- --define "_topdir $tmp"
if [ -z "$(rpm --eval '%{?meson:1}')" ]; then
	set -- "$@" --load "$SRC/packaging/rpm/macros.fallback"
fi
if head -n 1 /usr/lib/rpm/brp-compress 2>/dev/null | grep -q '^#! */bin/sh' &&
    grep -q 'read -r -d' /usr/lib/rpm/brp-compress && command -v bash >/dev/null 2>&1; then
	set -- "$@" --define "__brp_compress $(command -v bash) /usr/lib/rpm/brp-compress %{?_prefix}"
fi

echo "rpm.sh: building aws-credproc $ver in $tmp" >&2
if ! rpmbuild -ba --nodeps "$@" "$SPEC" >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log" >&2
	echo "rpm.sh: rpmbuild failed (log above, last 60 lines)" >&2
	exit 1
fi
sed -n '/^Ok:/,/^Timeout:/p' "$tmp/build.log" | sed 's/^/rpm.sh: meson test: /' >&2
grep -iE '^(warning|error):' "$tmp/build.log" >&2 || true

find "$tmp/RPMS" "$tmp/SRPMS" -name '*.rpm' -exec cp {} "$OUT"/ \;
arch=$(rpm --eval '%{_arch}')
main=
for f in "$OUT"/aws-credproc-"$ver"-*."$arch".rpm; do [ -f "$f" ] && main=$f; done
[ -n "$main" ] || { echo "rpm.sh: rpmbuild made no aws-credproc-$ver-*.$arch.rpm" >&2; exit 1; }
echo "== rpm -qlp $(basename "$main")"
rpm -qlp "$main"
echo "== rpm -qp --requires $(basename "$main")"
rpm -qp --requires "$main"
echo "rpm.sh: $main"
for f in "$OUT"/aws-credproc-"$ver"-*.src.rpm; do [ -f "$f" ] && echo "rpm.sh: $f"; done
