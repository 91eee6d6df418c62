#!/bin/sh
# packaging/check.sh - build, lint, install and run the distro packages. TAP.
#
# Makes the release tarball with dist.sh (meson dist) and checks it holds
# exactly the committed files; checks that a build without a maintainer
# stops and says so; runs deb.sh and rpm.sh on that tarball into a temporary
# directory (source packages too: .dsc, SRPM), lints the .dsc, checks the
# spec uses the meson and completion macros, installs the .deb on
# this machine with dpkg -i, runs the installed /usr/bin/aws-credproc (a
# static-keys profile, and a role profile against moto_server on loopback
# with SigV4 and IAM enforced, also through the AWS CLI's
# credential_process), removes the package again, and checks what the .rpm
# holds, and runs the package's autopkgtest (debian/tests/demo) against the
# installed package. Prints TAP on stdout (`ok N - …`, then `1..N`); build logs go to
# the temporary directory (kept when a test fails, or with KEEP_TMP=1).
#
# Needs root (dpkg -i / dpkg -r) on a throwaway Debian machine; as another
# user the install tests are skipped. Without a maintainer in
# packaging/maintainer or DEBFULLNAME/DEBEMAIL, the packages are built with a
# test identity (DEBFULLNAME="aws-credproc package check",
# DEBEMAIL=pkgcheck@example.org): packages for a distribution need a real one. Refuses to touch an
# /usr/bin/aws-credproc that no aws-credproc package owns. Needs
# moto_server, python3 with boto3 (and `aws` for the CLI test, else SKIP).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
	for f in "$@"; do [ -f "$f" ] && tail -n 40 "$f" | sed 's/^/# /' || echo "# $f"; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check LABEL CMD... : ok when CMD succeeds; its output is shown on failure.
check() {
	label=$1; shift
	if "$@" >"$tmp/out" 2>&1; then ok "$label"; else not_ok "$label" "$tmp/out"; fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-pkgcheck.XXXXXX") || exit 1
MOTO=
installed=no
cleanup() {
	[ -n "$MOTO" ] && { kill "$MOTO" 2>/dev/null; wait "$MOTO" 2>/dev/null; }
	if [ "$installed" = yes ]; then dpkg -r aws-credproc >/dev/null 2>&1; fi
	if [ "$failed" -gt 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "# logs kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the release tarball (meson dist) --------------------------------------
t0=$(date +%s)
tarball=$("$SRC/packaging/dist.sh" "$tmp/dist" 2>"$tmp/dist.log")
echo "# dist.sh: $(($(date +%s) - t0)) s"
if [ -n "$tarball" ] && [ -f "$tarball" ]; then
	ok "meson dist makes the release tarball ($(basename "$tarball"), $(wc -c <"$tarball") bytes)"
	AWS_CREDPROC_TARBALL=$tarball
	export AWS_CREDPROC_TARBALL
	# Exactly HEAD's files: nothing untracked, nothing left out.
	tar -tzf "$tarball" | sed -n 's|^[^/]*/||p' | grep -v '/$' | grep . | sort >"$tmp/dist-files"
	git -C "$SRC" ls-tree -r --name-only HEAD | sort >"$tmp/git-files"
	check "the tarball holds exactly the committed files (git ls-tree HEAD)" \
		diff -u "$tmp/git-files" "$tmp/dist-files"
else
	not_ok "meson dist makes the release tarball" "$tmp/dist.log"
	skip "the tarball holds exactly the committed files" "no tarball"
fi

# The maintainer: packaging/maintainer, else DEBFULLNAME/DEBEMAIL; a build
# with neither stops before building and says where to set it.
if grep -q '^maintainer=[[:space:]]*$' "$SRC/packaging/maintainer"; then
	if env -u DEBFULLNAME -u DEBEMAIL "$SRC/packaging/deb.sh" "$tmp/nomaint" >"$tmp/nomaint.log" 2>&1; then
		not_ok "deb.sh without a maintainer fails (no made-up address)" "$tmp/nomaint.log"
	elif grep -q 'packaging/maintainer' "$tmp/nomaint.log" && [ -z "$(ls "$tmp/nomaint" 2>/dev/null)" ]; then
		ok "deb.sh without a maintainer fails and names packaging/maintainer"
	else
		not_ok "deb.sh without a maintainer fails and names packaging/maintainer" "$tmp/nomaint.log"
	fi
	if [ -z "${DEBFULLNAME:-}" ] || [ -z "${DEBEMAIL:-}" ]; then
		DEBFULLNAME="aws-credproc package check" DEBEMAIL=pkgcheck@example.org
		export DEBFULLNAME DEBEMAIL
	fi
	MAINT="$DEBFULLNAME <$DEBEMAIL>"
else
	skip "deb.sh without a maintainer fails" "packaging/maintainer names one"
	MAINT=$(sed -n 's/^maintainer=[[:space:]]*//p' "$SRC/packaging/maintainer" | tail -n 1)
fi

# ---- Debian ---------------------------------------------------------------
t0=$(date +%s)
"$SRC/packaging/deb.sh" "$tmp/deb" >"$tmp/deb.log" 2>&1
deb_rc=$?
echo "# deb.sh: $(($(date +%s) - t0)) s"
deb=$(ls "$tmp"/deb/aws-credproc_*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ]; then ok "deb builds ($(basename "$deb"))"; else not_ok "deb builds" "$tmp/deb.log"; fi
if [ -z "$deb" ]; then
	skip "lintian clean" "no .deb"
elif [ "$deb_rc" = 0 ]; then
	ok "lintian clean (no errors or warnings)"
	grep -E '^[IPXO]: ' "$tmp/deb.log" | sed 's/^/# /'
else
	not_ok "lintian clean (no errors or warnings)" "$tmp/deb.log"
fi

if [ -n "$deb" ]; then
	dpkg-deb -f "$deb" Depends >"$tmp/depends"
	missing=
	for lib in libc6 libcjson1 libcurl4 libssl3 libxml2; do
		grep -Eq "(^|, )$lib( |,|$)" "$tmp/depends" || missing="$missing $lib"
	done
	if [ -z "$missing" ]; then
		ok "deb Depends names libc6 libcjson1 libcurl4 libssl3 libxml2 (the dlopen()ed module's libraries too)"
	else
		not_ok "deb Depends names libcjson1 libcurl4 libssl3 libxml2: missing$missing" "$tmp/depends"
	fi
fi

# The source package: .dsc, the orig tarball (the meson dist tarball, byte
# for byte) and the .debian.tar.xz; lintian clean; it declares the
# autopkgtest; the maintainer is the configured one.
dsc=$(ls "$tmp"/deb/aws-credproc_*.dsc 2>/dev/null | head -n 1)
if [ -n "$dsc" ] && ls "$tmp"/deb/aws-credproc_*.debian.tar.xz >/dev/null 2>&1 &&
    [ -n "${AWS_CREDPROC_TARBALL:-}" ] && cmp -s "$AWS_CREDPROC_TARBALL" "$(ls "$tmp"/deb/aws-credproc_*.orig.tar.gz | head -n 1)"; then
	ok "deb.sh makes the source package ($(cd "$tmp/deb" && ls aws-credproc_*.dsc aws-credproc_*.orig.tar.gz aws-credproc_*.debian.tar.xz | tr '\n' ' ')), the .orig.tar.gz is the meson dist tarball"
else
	not_ok "deb.sh makes the source package (.dsc, .orig.tar.gz = the meson dist tarball, .debian.tar.xz)" "$tmp/deb.log"
fi
if [ -n "$dsc" ]; then
	lintian --display-info --pedantic "$dsc" >"$tmp/lintian-dsc.log" 2>&1
	if grep -qE '^[EW]: ' "$tmp/lintian-dsc.log"; then
		not_ok "lintian on the .dsc: no errors or warnings" "$tmp/lintian-dsc.log"
	else
		ok "lintian on the .dsc: no errors or warnings"
	fi
	check "the .dsc declares the autopkgtest (Testsuite: autopkgtest)" grep -qx 'Testsuite: autopkgtest' "$dsc"
fi
if [ -n "$deb" ]; then
	{ dpkg-deb -f "$deb" Maintainer; [ -n "$dsc" ] && sed -n 's/^Maintainer: //p' "$dsc"; } >"$tmp/maint"
	check "the .deb and the .dsc name the configured maintainer ($MAINT), no placeholder" \
		sh -c '[ "$(sort -u "$1")" = "$2" ] && ! grep -q "@MAINTAINER@\|noreply" "$1"' sh "$tmp/maint" "$MAINT"
fi

# The files a package must hold, as extended regular expressions matched
# against its file list: the executable, the network module, the man page
# and the shell completions the tree has (contrib/completions/: bash
# `aws-credproc`, zsh `_aws-credproc`, fish `aws-credproc.fish`).
expect_files() { # LIBDIR_RE
	echo "^/usr/bin/aws-credproc\$"
	echo "^$1/aws-credproc/credproc-net\\.so\$"
	echo "^/usr/share/man/man1/aws-credproc\\.1(\\.gz)?\$"
	c="$SRC/contrib/completions"
	[ -e "$c/aws-credproc" ] && echo "^/usr/share/bash-completion/completions/aws-credproc\$"
	[ -e "$c/_aws-credproc" ] && echo "^/usr/share/zsh/[^/]+/_aws-credproc\$"
	[ -e "$c/aws-credproc.fish" ] && echo "^/usr/share/fish/[^/]+/aws-credproc\\.fish\$"
	return 0
}
# lists_all LISTFILE LIBDIR_RE: every expected file is in LISTFILE.
lists_all() {
	miss=0
	expect_files "$2" >"$tmp/expect"
	while read -r re; do
		grep -Eq "$re" "$1" || { echo "no file matches $re"; miss=1; }
	done <"$tmp/expect"
	[ "$miss" = 0 ] || { echo "--- the list:"; cat "$1"; }
	return "$miss"
}

can_install=yes
why_not=
if [ "$(id -u)" != 0 ]; then
	can_install=no why_not="not root"
elif [ -e /usr/bin/aws-credproc ] && ! dpkg -S /usr/bin/aws-credproc >/dev/null 2>&1; then
	can_install=no why_not="/usr/bin/aws-credproc exists and no package owns it"
elif [ -z "$deb" ]; then
	can_install=no why_not="no .deb"
fi

if [ "$can_install" = yes ]; then
	if dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1; then
		installed=yes
		ok "dpkg -i installs the .deb"
	else
		not_ok "dpkg -i installs the .deb" "$tmp/dpkg-i.log"
	fi
fi
if [ "$installed" = yes ]; then
	dpkg -L aws-credproc >"$tmp/dpkg-L"
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	check "dpkg -L lists the binary, the network module, the man page and the completions" \
		lists_all "$tmp/dpkg-L" "/usr/lib/$multiarch"
	sed 's/^/# /' "$tmp/dpkg-L"
	if [ -e "$SRC/contrib/completions/_aws-credproc" ]; then
		check "the zsh completion is where Debian's zsh looks (/usr/share/zsh/vendor-completions)" \
			grep -qx /usr/share/zsh/vendor-completions/_aws-credproc "$tmp/dpkg-L"
	fi
	if [ -f /usr/share/man/man1/aws-credproc.1.gz ]; then
		check "the installed man page renders (man aws-credproc)" \
			sh -c 'MANPAGER=cat MANWIDTH=80 man aws-credproc 2>&1 | grep -q "aws-credproc"'
	else
		skip "the installed man page renders" "no man page installed"
	fi
else
	skip "dpkg -L lists the binary, the network module, the man page and the completions" "${why_not:-install failed}"
	skip "the installed man page renders" "${why_not:-install failed}"
fi

# ---- the installed binary runs the demo ------------------------------------
BIN=/usr/bin/aws-credproc
clean_env() {
	env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
		-u AWS_SESSION_TOKEN -u AWS_CA_BUNDLE -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_STS \
		-u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE -u AWS_CREDPROC_CACHE_DIR \
		-u AWS_CREDPROC_CHAIN -u AWS_REGION -u AWS_DEFAULT_REGION \
		HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache" "$@"
}
# json_has FILE KEY...: stdout is one JSON document with Version 1 and KEYs.
json_has() {
	python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d.get("Version") == 1, d.get("Version")
for k in sys.argv[2:]:
    assert isinstance(d.get(k), str) and d[k], "no " + k
PY
}

if [ "$installed" = yes ]; then
	mkdir -p "$tmp/home/.aws"
	cat >"$tmp/home/.aws/config" <<'INI'
[profile static]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
INI
	if clean_env "$BIN" --profile static >"$tmp/static.json" 2>"$tmp/static.err" &&
	    json_has "$tmp/static.json" AccessKeyId SecretAccessKey >>"$tmp/static.err" 2>&1; then
		ok "installed binary: --profile static (static keys) exits 0 with the JSON"
	else
		not_ok "installed binary: --profile static (static keys) exits 0 with the JSON" "$tmp/static.err"
	fi

	# moto on loopback, SigV4 and IAM enforced (tests/demo.sh uses moto too when it is installed, else its own loopback STS).
	moto_ok=no
	if command -v moto_server >/dev/null 2>&1 && python3 -c 'import boto3' 2>/dev/null; then
		PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		ENDPOINT="http://127.0.0.1:$PORT"
		moto_server -H 127.0.0.1 -p "$PORT" >"$tmp/moto.log" 2>&1 &
		MOTO=$!
		for _ in $(seq 1 150); do
			python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' \
				"$ENDPOINT" 2>/dev/null && { moto_ok=yes; break; }
			sleep 0.1
		done
	fi
	if [ "$moto_ok" = yes ] && python3 - "$ENDPOINT" "$tmp" >"$tmp/setup.log" 2>&1 <<'PY'
import json, sys, urllib.request, boto3
ep, work = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
# The next 7 requests (this set-up) pass unchecked; everything after is checked.
urllib.request.urlopen(urllib.request.Request(ep + "/moto-api/reset-auth", data=b"7",
                       headers={"Content-Type": "text/plain"}, method="POST"))
iam = boto3.client("iam", **kw)
user = iam.create_user(UserName="pkg-user")["User"]
key = iam.create_access_key(UserName="pkg-user")["AccessKey"]
iam.put_user_policy(UserName="pkg-user", PolicyName="assume", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
role = iam.create_role(RoleName="report-writer", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]},
                                            "Action": "sts:AssumeRole"}]}))["Role"]
iam.put_role_policy(RoleName="report-writer", PolicyName="whoami", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}))
with open(work + "/home/.aws/config", "a") as f:
    f.write("\n[profile base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
            "\n[profile reports-role]\nrole_arn = %s\nsource_profile = base\n"
            "role_session_name = nightly-reports\nduration_seconds = 3600\n"
            "\n[profile reports]\ncredential_process = /usr/bin/aws-credproc --profile reports-role\n"
            % (key["AccessKeyId"], key["SecretAccessKey"], role["Arn"]))
PY
	then
		if clean_env AWS_ENDPOINT_URL_STS="$ENDPOINT" AWS_REGION=us-east-1 \
		    "$BIN" --profile reports-role >"$tmp/role.json" 2>"$tmp/role.err" &&
		    json_has "$tmp/role.json" AccessKeyId SecretAccessKey SessionToken Expiration >>"$tmp/role.err" 2>&1; then
			ok "installed binary: --profile reports-role assumes the role on moto (exit 0, JSON with Expiration)"
		else
			not_ok "installed binary: --profile reports-role assumes the role on moto" "$tmp/role.err" "$tmp/moto.log"
		fi
		# The module comes from the package's libdir, found from /usr/bin.
		if clean_env AWS_ENDPOINT_URL_STS="$ENDPOINT" AWS_REGION=us-east-1 \
		    "$BIN" --profile reports-role --no-cache --debug >/dev/null 2>"$tmp/debug.err" &&
		    grep -q "loading the network module /usr/lib/$multiarch/aws-credproc/credproc-net.so" "$tmp/debug.err"; then
			ok "installed binary loads the network module from /usr/lib/$multiarch/aws-credproc"
		else
			not_ok "installed binary loads the network module from /usr/lib/$multiarch/aws-credproc" "$tmp/debug.err"
		fi
		if command -v aws >/dev/null 2>&1; then
			if clean_env AWS_ENDPOINT_URL_STS="$ENDPOINT" AWS_REGION=us-east-1 \
			    AWS_DEFAULT_REGION=us-east-1 aws sts get-caller-identity --profile reports --endpoint-url "$ENDPOINT" --output json \
			    >"$tmp/cli.json" 2>"$tmp/cli.err" && grep -q 'assumed-role/report-writer/nightly-reports' "$tmp/cli.json"; then
				ok "aws sts get-caller-identity through credential_process = /usr/bin/aws-credproc"
			else
				not_ok "aws sts get-caller-identity through credential_process = /usr/bin/aws-credproc" \
					"$tmp/cli.err" "$tmp/cli.json"
			fi
		else
			skip "aws sts get-caller-identity through credential_process" "no aws CLI"
		fi
	else
		if [ "$moto_ok" = yes ]; then why="moto set-up failed"; else why="moto_server/boto3 unavailable or did not start"; fi
		not_ok "installed binary: --profile reports-role assumes the role on moto ($why)" "$tmp/setup.log" "$tmp/moto.log"
		skip "installed binary loads the network module from /usr/lib" "$why"
		skip "aws sts get-caller-identity through credential_process" "$why"
	fi
	[ -n "$MOTO" ] && { kill "$MOTO" 2>/dev/null; wait "$MOTO" 2>/dev/null; MOTO=; }

	# The package's autopkgtest (debian/tests/control: Tests: demo), run the
	# way autopkgtest's null runner would, from the unpacked source package,
	# against the installed package.
	if [ -n "$dsc" ] && dpkg-source -x "$dsc" "$tmp/srcpkg" >"$tmp/dpkg-source-x.log" 2>&1 &&
	    [ -x "$tmp/srcpkg/debian/tests/demo" ]; then
		mkdir -p "$tmp/autopkgtest-tmp"
		if (cd "$tmp/srcpkg" && clean_env AUTOPKGTEST_TMP="$tmp/autopkgtest-tmp" debian/tests/demo) \
		    >"$tmp/autopkgtest.log" 2>&1 && grep -q 'demo finished' "$tmp/autopkgtest.log" &&
		    grep -q 'credential_process = /usr/bin/aws-credproc ' "$tmp/autopkgtest.log" &&
		    [ ! -e "$tmp/srcpkg/build" ]; then
			ok "autopkgtest debian/tests/demo passes against the installed package"
		else
			not_ok "autopkgtest debian/tests/demo passes against the installed package" "$tmp/autopkgtest.log"
		fi
	else
		not_ok "autopkgtest: dpkg-source -x unpacks the .dsc with debian/tests/demo" "$tmp/dpkg-source-x.log"
	fi

	if dpkg -r aws-credproc >"$tmp/dpkg-r.log" 2>&1 && ! dpkg -s aws-credproc >/dev/null 2>&1 &&
	    [ ! -e /usr/bin/aws-credproc ] && [ ! -e "/usr/lib/$multiarch/aws-credproc" ]; then
		installed=no
		ok "dpkg -r removes the package and its files"
	else
		not_ok "dpkg -r removes the package and its files" "$tmp/dpkg-r.log"
	fi
else
	skip "installed binary: --profile static" "${why_not:-install failed}"
	skip "installed binary: --profile reports-role on moto" "${why_not:-install failed}"
	skip "installed binary loads the network module from /usr/lib" "${why_not:-install failed}"
	skip "aws sts get-caller-identity through credential_process" "${why_not:-install failed}"
	skip "autopkgtest debian/tests/demo passes against the installed package" "${why_not:-install failed}"
	skip "dpkg -r removes the package and its files" "${why_not:-install failed}"
fi

# ---- RPM --------------------------------------------------------------------
t0=$(date +%s)
"$SRC/packaging/rpm.sh" "$tmp/rpm" >"$tmp/rpm.log" 2>&1
rpm_rc=$?
echo "# rpm.sh: $(($(date +%s) - t0)) s"
arch=$(rpm --eval '%{_arch}' 2>/dev/null)
rpmfile=$(ls "$tmp"/rpm/aws-credproc-[0-9]*."$arch".rpm 2>/dev/null | head -n 1)
if [ "$rpm_rc" = 0 ] && [ -n "$rpmfile" ]; then
	ok "rpm builds ($(basename "$rpmfile"))"
	rpm -qlp "$rpmfile" >"$tmp/rpm-ql" 2>&1
	check "rpm -qlp lists the binary, the network module, the man page and the completions" \
		lists_all "$tmp/rpm-ql" "$(rpm --eval '%{_libdir}')"
	sed 's/^/# /' "$tmp/rpm-ql"
	rpm -qp --requires "$rpmfile" >"$tmp/rpm-req" 2>&1
	check "rpm requires libcjson, libcurl, libcrypto and libxml2 (the dlopen()ed module's libraries too)" \
		sh -c 'for l in libcjson.so.1 libcurl.so.4 libcrypto.so.3 libxml2.so.2; do grep -q "^$l()" "$1" || { echo "no $l"; cat "$1"; exit 1; }; done' sh "$tmp/rpm-req"
else
	not_ok "rpm builds" "$tmp/rpm.log"
	skip "rpm -qlp lists the binary, the network module, the man page and the completions" "no .rpm"
	skip "rpm requires libcjson, libcurl, libcrypto and libxml2" "no .rpm"
fi

# The source RPM, and the spec written with Fedora's macros (rpm.sh loads
# fallbacks for them only where rpm lacks them, the spec stays as is).
srpm=$(ls "$tmp"/rpm/aws-credproc-[0-9]*.src.rpm 2>/dev/null | head -n 1)
if [ -n "$srpm" ] && rpm -qlp "$srpm" >"$tmp/srpm-ql" 2>&1 &&
    grep -qx aws-credproc.spec "$tmp/srpm-ql" && grep -qx "$(basename "${AWS_CREDPROC_TARBALL:-none}")" "$tmp/srpm-ql"; then
	ok "rpm.sh makes the SRPM ($(basename "$srpm"): the spec and the meson dist tarball)"
else
	not_ok "rpm.sh makes the SRPM (the spec and the meson dist tarball)" "$tmp/rpm.log" "$tmp/srpm-ql"
fi
spec_macros() {
	for m in '^%autosetup' '^%meson( |$)' '^%meson_build' '^%meson_install' '^%meson_test' \
	    '%\{bash_completions_dir\}' '%\{zsh_completions_dir\}' '%\{fish_completions_dir\}'; do
		grep -Eq "$m" "$1" || { echo "the spec lacks $m"; return 1; }
	done
	if grep -Eq '^[[:space:]]*meson (setup|compile|install|test)' "$1"; then
		echo "the spec spells out meson commands"; return 1
	fi
	if grep -q 'noreply' "$1"; then echo "the spec has a made-up address"; return 1; fi
	return 0
}
check "the spec uses %autosetup, %meson, %meson_build, %meson_install, %meson_test and the completion directory macros" \
	spec_macros "$SRC/packaging/rpm/aws-credproc.spec"
if [ -n "$srpm" ]; then
	rpm -qp --qf '%{changelogname}\n' "$srpm" >"$tmp/srpm-maint" 2>&1
	check "the SRPM's changelog names the configured maintainer" \
		grep -qF "$MAINT" "$tmp/srpm-maint"
fi

echo "1..$n"
echo "# $failed failed; $(($(date +%s) - start)) s in all"
[ "$failed" = 0 ]
