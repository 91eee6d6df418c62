# shellcheck shell=sh
# packaging/meta.sh - sourced by deb.sh and rpm.sh: the maintainer and
# homepage, and the release tarball both build from.
#
# cp_meta SRC: sets MAINTAINER ("Full Name <address>") and HOMEPAGE (may be
# empty) from SRC/packaging/maintainer, MAINTAINER falling back to
# "$DEBFULLNAME <$DEBEMAIL>". Returns 1, with a message on stderr, when no
# maintainer is set anywhere or it is not "Name <address>".
cp_meta() {
	MAINTAINER=$(sed -n 's/^maintainer=[[:space:]]*//p' "$1/packaging/maintainer" | tail -n 1)
	HOMEPAGE=$(sed -n 's/^homepage=[[:space:]]*//p' "$1/packaging/maintainer" | tail -n 1)
	if [ -z "$MAINTAINER" ] && [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
		MAINTAINER="$DEBFULLNAME <$DEBEMAIL>"
	fi
	if [ -z "$MAINTAINER" ]; then
		echo "no package maintainer: set maintainer= in packaging/maintainer" \
			"(or DEBFULLNAME and DEBEMAIL in the environment)" >&2
		return 1
	fi
	case $MAINTAINER in
	*[!\ ]' <'*@*'>') ;;
	*)
		echo "package maintainer '$MAINTAINER' is not 'Full Name <address>'" >&2
		return 1
		;;
	esac
	case $MAINTAINER$HOMEPAGE in
	*'|'* | *'\'* | *'&'*)
		echo "packaging/maintainer: '|', '\\' and '&' are not allowed" >&2
		return 1
		;;
	esac
	return 0
}

# cp_meta_subst FILE...: replaces @MAINTAINER@ and @HOMEPAGE@ in FILEs in
# place; a line holding only a field with @HOMEPAGE@ ("Homepage: @HOMEPAGE@",
# "URL: @HOMEPAGE@") is dropped when HOMEPAGE is empty.
cp_meta_subst() {
	for f; do
		if [ -n "$HOMEPAGE" ]; then
			sed -i -e "s|@MAINTAINER@|$MAINTAINER|g" -e "s|@HOMEPAGE@|$HOMEPAGE|g" "$f"
		else
			sed -i -e "s|@MAINTAINER@|$MAINTAINER|g" -e '/^[A-Za-z-]*:[[:space:]]*@HOMEPAGE@[[:space:]]*$/d' "$f"
		fi || return 1
	done
}

# cp_tarball SRC TMP VERSION WHO: prints the release tarball to build from:
# $AWS_CREDPROC_TARBALL, else one made now by dist.sh under TMP/dist. It
# must be aws-credproc-VERSION.tar.gz; else a message naming WHO (deb.sh,
# rpm.sh) and return 1.
cp_tarball() {
	_t=${AWS_CREDPROC_TARBALL:-}
	if [ -z "$_t" ]; then
		_t=$("$1/packaging/dist.sh" "$2/dist") || return 1
	fi
	[ "$(basename "$_t")" = "aws-credproc-$3.tar.gz" ] || {
		echo "$4: $_t is not aws-credproc-$3.tar.gz" >&2
		return 1
	}
	printf '%s\n' "$_t"
}
