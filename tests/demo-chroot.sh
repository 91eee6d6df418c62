#!/bin/sh
# tests/demo-chroot.sh - tests/demo.sh on a stock Debian 12, for real: a
# fresh bookworm root made with mmdebstrap (--variant=apt: Debian packages
# only, no python3, no pyenv, no moto, no pip), a clean clone of this tree
# in it, and `sh tests/demo.sh` run there by root with an empty environment.
# The demo must install what it needs with apt-get, build, run the main job
# against the project's own loopback STS, and say so in one line. Prints
# TAP. Needs root, mmdebstrap and the Debian mirror (the only network CI
# has besides npm); without them: a skip, and a failure under CI=true.
#
#   DEMO_CHROOT_MIRROR   the mirror (default http://deb.debian.org/debian)
#   KEEP_TMP=1           keep the root afterwards
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${DEMO_CHROOT_MIRROR:-http://deb.debian.org/debian}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" | sed 's/^/# /'
}
skip_all() {
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - demo in a Debian 12 root: $*"; echo "1..1"; exit 1
	fi
	echo "1..0 # SKIP $*"; exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root (mmdebstrap, chroot)"
command -v mmdebstrap >/dev/null 2>&1 || skip_all "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v git >/dev/null 2>&1 || skip_all "git is not installed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-chroot.XXXXXX")
ROOT=$TMP/root
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
if mmdebstrap --variant=apt --include=ca-certificates bookworm "$ROOT" "$MIRROR" \
	>"$TMP/mmdebstrap.log" 2>&1; then
	ok "a Debian 12 root with Debian packages only (mmdebstrap --variant=apt bookworm, $(($(date +%s) - t0)) s)"
else
	not_ok "mmdebstrap bookworm from $MIRROR" "$TMP/mmdebstrap.log"
	echo "1..$n"; exit 1
fi
if chroot "$ROOT" sh -c 'command -v python3 || command -v moto_server || command -v pip3' \
	>/dev/null 2>&1; then
	not_ok "the fresh root has no python3, moto or pip"
else
	ok "the fresh root has no python3, moto or pip"
fi

# A clean clone: only what is committed reaches the root.
git clone -q "$SRC" "$ROOT/root/src" 2>"$TMP/clone.log" || { not_ok "git clone" "$TMP/clone.log"; echo "1..$n"; exit 1; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

t0=$(date +%s)
unshare -m sh -c '
	mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
	chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		sh /root/src/tests/demo.sh' sh "$ROOT" >"$TMP/demo.log" 2>&1
rc=$?
secs=$(($(date +%s) - t0))
if [ "$rc" = 0 ] && grep -q '^demo finished' "$TMP/demo.log"; then
	ok "tests/demo.sh from a clean clone in the root: exit 0 ($secs s, apt-get and the build included)"
else
	not_ok "tests/demo.sh in the root: exit $rc" "$TMP/demo.log"
fi
c=$(grep -c "^== moto is not installed: using the project's own loopback STS" "$TMP/demo.log")
if [ "$c" = 1 ]; then
	ok "it says once that it runs against the project's own loopback STS"
else
	not_ok "the own-STS line appears $c times (want 1)" "$TMP/demo.log"
fi
if grep -q '"AccessKeyId":	"ASIA' "$TMP/demo.log" && grep -q '"SecretAccessKey":	"[^"]*\*\*\*\*"' "$TMP/demo.log" &&
	grep -q '"Expiration":' "$TMP/demo.log"; then
	ok "the role's credentials are printed, with an Expiration, secrets masked"
else
	not_ok "the role's credentials (masked) are not in the demo's output" "$TMP/demo.log"
fi
extra=$(chroot "$ROOT" dpkg-query -W -f='${Package} ${Status}\n' clang valgrind lintian rpm zsh fish \
	softhsm2 2>/dev/null | grep ' installed$' | cut -d' ' -f1 | tr '\n' ' ')
if [ -z "$extra" ]; then
	ok "it installed only what the demo needs (no clang, valgrind, lintian, rpm, zsh, fish, softhsm2)"
else
	not_ok "it installed packages the demo does not need: $extra"
fi
if grep -qiE '(^|[^a-z])pip([^a-z]|$)' "$TMP/demo.log"; then
	not_ok "the demo mentions pip (Debian's python3 refuses pip installs)" "$TMP/demo.log"
else
	ok "no pip anywhere"
fi
echo "1..$n"
[ "$failed" = 0 ]
