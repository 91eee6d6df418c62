#!/bin/sh
# test-install.sh BUILD_DIR - TAP test of `meson install`.
#
# Installs BUILD_DIR (already built: --no-rebuild) into a temporary
# DESTDIR and checks: the exact list of installed files (the executable, the
# network module when net_module=true, the man page when it is built, the
# bash, zsh and fish completions unless -Dcompletions=disabled) and their
# modes; that the installed executable runs (a static profile: exit 0) and
# loads the network module from the installed tree (a role profile against
# a closed port: exit 5, not a module-load error); that the man page renders
# without warnings and documents every option of --help; the completions'
# syntax (bash -n, zsh -n, fish --no-execute; a missing shell is skipped)
# and the bash completion of profile names.
#
# MESON overrides the meson command (default: meson from PATH).
set -u

build=${1:?usage: test-install.sh BUILD_DIR}
meson=${MESON:-meson}

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { sed 's/^/# /' "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
dest=$tmp/dest

# The install layout and options, as this build dir has them.
if ! $meson introspect --buildoptions "$build" >"$tmp/options.json" 2>"$tmp/err"; then
	echo "1..1"
	echo "not ok 1 - meson introspect --buildoptions $build"
	diag "$tmp/err"
	exit 1
fi
# One option a line; the values we need are strings without commas, or booleans.
opt() {
	awk '{ gsub(/\}, \{/, "}\n{"); print }' "$tmp/options.json" |
		sed -n "s/^.*\"name\": \"$1\", \"value\": \"\{0,1\}\([^,\"]*\)\"\{0,1\},.*\$/\1/p"
}
opt_prefix=$(opt prefix)
opt_bindir=$(opt bindir)
opt_libdir=$(opt libdir)
opt_mandir=$(opt mandir)
opt_datadir=$(opt datadir)
opt_net_module=$(opt net_module)
opt_auto_features=$(opt auto_features)
opt_man=$(opt man)
opt_completions=$(opt completions)
[ "$opt_man" = auto ] && opt_man=$opt_auto_features
[ "$opt_completions" = auto ] && opt_completions=$opt_auto_features
if [ -z "$opt_prefix" ] || [ -z "$opt_bindir" ] || [ -z "$opt_net_module" ]; then
	echo "1..1"
	echo "not ok 1 - read the build options of $build (prefix '$opt_prefix', bindir '$opt_bindir', net_module '$opt_net_module')"
	exit 1
fi

# An option value relative to the prefix, as Meson resolves it.
under_prefix() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$opt_prefix/$1" ;;
	esac
}
# The completions dir of a shell's pkg-config file with datadir set to ours
# (as contrib/completions/meson.build asks for it), else the default.
comp_dir() { # comp_dir PKG DEFAULT
	d=
	if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" 2>/dev/null; then
		d=$(pkg-config --define-variable=datadir="$opt_datadir" --variable=completionsdir "$1" 2>/dev/null)
	fi
	under_prefix "${d:-$2}"
}

bin=$dest$(under_prefix "$opt_bindir")/aws-credproc
module=$dest$(under_prefix "$opt_libdir")/aws-credproc/credproc-net.so
manpage=$dest$(under_prefix "$opt_mandir")/man1/aws-credproc.1
bashcomp=$dest$(comp_dir bash-completion "$opt_datadir/bash-completion/completions")/aws-credproc
zshcomp=$dest$(under_prefix "$opt_datadir")/zsh/site-functions/_aws-credproc
fishcomp=$dest$(comp_dir fish "$opt_datadir/fish/vendor_completions.d")/aws-credproc.fish

want_man=false
case $opt_man in
enabled) want_man=true ;;
auto) command -v scdoc >/dev/null 2>&1 && want_man=true ;;
esac
want_comp=true
[ "$opt_completions" = disabled ] && want_comp=false

echo "1..17"

# 1. The install itself.
if $meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1; then
	ok "meson install --destdir"
else
	not_ok "meson install --destdir"
	diag "$tmp/install.log"
fi

# 2. Exactly the expected files, nothing else.
{
	echo "$bin"
	[ "$opt_net_module" = true ] && echo "$module"
	$want_man && echo "$manpage"
	if $want_comp; then
		echo "$bashcomp"
		echo "$zshcomp"
		echo "$fishcomp"
	fi
} | sort >"$tmp/want"
find "$dest" ! -type d | sort >"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then
	ok "installed files: $(sed "s|^$dest||" "$tmp/got" | tr '\n' ' ')"
else
	not_ok "installed files"
	echo "# expected:"
	diag "$tmp/want"
	echo "# installed:"
	diag "$tmp/got"
fi

# 3. Modes: the executable and module are not writable by others (the module
# loader refuses a group/world-writable module); data files are 0644.
modes_ok() {
	for f in "$bin" $([ "$opt_net_module" = true ] && echo "$module"); do
		[ -x "$f" ] || { echo "# $f is not executable"; return 1; }
	done
	while read -r f; do
		[ -e "$f" ] || continue
		m=$(stat -c %a "$f")
		case $m in
		*[2367]? | *[2367]) echo "# $f is writable by group or others ($m)"; return 1 ;;
		esac
	done <"$tmp/got"
	return 0
}
check "no installed file is writable by group or others; programs executable" modes_ok

# The installed executable, in a clean environment.
home=$tmp/home
mkdir -p "$home/.aws"
cat >"$home/.aws/config" <<'EOF'
[profile static]
aws_access_key_id = AKIDINSTALLTEST
aws_secret_access_key = install-test-secret

[profile role]
role_arn = arn:aws:iam::222222222222:role/install-test
source_profile = static
region = us-east-1
EOF
run() { # run OUT ERR ARGS... ; returns the exit status
	o=$1
	e=$2
	shift 2
	env -i PATH="${PATH:-/usr/bin:/bin}" HOME="$home" LC_ALL=C "$bin" "$@" >"$o" 2>"$e"
}

# 4. --version
run "$tmp/out" "$tmp/err" --version
st=$?
if [ $st -eq 0 ] && grep -q '^aws-credproc [0-9]' "$tmp/out"; then
	ok "installed aws-credproc --version: $(cat "$tmp/out")"
else
	not_ok "installed aws-credproc --version (exit $st)"
	diag "$tmp/out" "$tmp/err"
fi

# 5. A static profile: exit 0 and the keys (no network, no module).
run "$tmp/out" "$tmp/err" --profile static
st=$?
if [ $st -eq 0 ] && grep -q AKIDINSTALLTEST "$tmp/out"; then
	ok "installed aws-credproc --profile static: exit 0"
else
	not_ok "installed aws-credproc --profile static: exit $st, want 0"
	diag "$tmp/err"
fi

# 6. A role profile against a closed port: transport failure (5), with the
# module loaded from the installed tree.
env -i PATH="${PATH:-/usr/bin:/bin}" HOME="$home" LC_ALL=C \
	AWS_ENDPOINT_URL_STS=http://127.0.0.1:1 \
	"$bin" --profile role --no-cache --timeout 10 --debug >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -ne 5 ]; then
	not_ok "installed aws-credproc --profile role (closed port): exit $st, want 5"
	diag "$tmp/err"
elif [ -s "$tmp/out" ]; then
	not_ok "installed aws-credproc --profile role (closed port): stdout not empty"
elif grep -q 'cannot load the network module' "$tmp/err"; then
	not_ok "installed aws-credproc --profile role (closed port): module-load error"
	diag "$tmp/err"
elif [ "$opt_net_module" = true ] && ! grep -q "loading the network module $module\$" "$tmp/err"; then
	not_ok "installed aws-credproc --profile role: module not loaded from $module"
	grep module "$tmp/err" | diag
else
	ok "installed aws-credproc --profile role (closed port): exit 5, $([ "$opt_net_module" = true ] && echo "module loaded from the installed tree" || echo "no module (net_module=false)")"
fi

# 7-10. The man page.
if ! $want_man || [ ! -f "$manpage" ]; then
	skip "man page not built (scdoc missing or -Dman=disabled)"
	skip "man page: groff warnings"
	skip "man page: mandoc lint"
	skip "man page documents every option of --help"
else
	if command -v man >/dev/null 2>&1; then
		LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$manpage" >"$tmp/man.txt" 2>"$tmp/man.err"
		st=$?
		if [ $st -eq 0 ] && [ ! -s "$tmp/man.err" ] && grep -q 'EXIT STATUS' "$tmp/man.txt"; then
			ok "man --warnings -l aws-credproc.1: no warnings"
		else
			not_ok "man --warnings -l aws-credproc.1 (exit $st)"
			diag "$tmp/man.err"
		fi
	else
		skip "man not installed"
	fi
	if command -v groff >/dev/null 2>&1; then
		groff -t -man -Tutf8 -ww -z "$manpage" 2>"$tmp/groff.err"
		st=$?
		if [ $st -eq 0 ] && [ ! -s "$tmp/groff.err" ]; then
			ok "groff -man -ww: no warnings"
		else
			not_ok "groff -man -ww (exit $st)"
			diag "$tmp/groff.err"
		fi
	else
		skip "groff not installed"
	fi
	if command -v mandoc >/dev/null 2>&1; then
		# scdoc emits a .PP before every paragraph, also after .SH/.SS and
		# before .TP/.RS, which mandoc reports as "skipping paragraph macro";
		# anything else is a real problem. STYLE notes (long lines) are ignored.
		mandoc -T lint -W warning "$manpage" 2>&1 | grep -v 'skipping paragraph macro' >"$tmp/mandoc.err"
		if [ ! -s "$tmp/mandoc.err" ]; then
			ok "mandoc -T lint: no warnings (besides scdoc's paragraph macros)"
		else
			not_ok "mandoc -T lint"
			diag "$tmp/mandoc.err"
		fi
	else
		skip "mandoc not installed"
	fi
	# Every option --help lists appears in the page's OPTIONS.
	run "$tmp/help" "$tmp/err" --help
	: >"$tmp/man.ascii"
	if command -v groff >/dev/null 2>&1; then
		groff -t -man -Tascii -P-c -P-b -P-u "$manpage" 2>/dev/null >"$tmp/man.ascii"
	elif command -v mandoc >/dev/null 2>&1 && command -v col >/dev/null 2>&1; then
		mandoc -T ascii "$manpage" | col -b >"$tmp/man.ascii"
	fi
	missing=
	# The option column of --help: "  -p, --profile NAME", "      --no-cache".
	opts=$(sed -n '/^Options:/,/^$/p' "$tmp/help" |
		sed -n 's/^ \{1,\}\(-[a-zA-Z]\), \(--[a-z][-a-z0-9]*\).*/\1 \2/p; s/^ \{1,\}\(--[a-z][-a-z0-9]*\).*/\1/p')
	for o in $opts; do
		grep -q -- "^ *\\(-[a-zA-Z], \\)\\{0,1\\}$o\\([ ,]\\|\$\\)" "$tmp/man.ascii" || missing="$missing $o"
	done
	if [ -z "$missing" ] && [ -n "$opts" ] && [ -s "$tmp/man.ascii" ]; then
		ok "man page documents every option of --help"
	else
		not_ok "man page does not document:${missing:- (no --help output)}"
	fi
fi

# 11-13. Completion syntax.
if ! $want_comp; then
	skip "completions disabled"
	skip "completions disabled"
	skip "completions disabled"
else
	if command -v bash >/dev/null 2>&1; then
		check "bash -n $(basename "$bashcomp")" bash -n "$bashcomp"
	else
		skip "bash not installed"
	fi
	if command -v zsh >/dev/null 2>&1; then
		check "zsh -n $(basename "$zshcomp")" zsh -n "$zshcomp"
	else
		skip "zsh not installed"
	fi
	if command -v fish >/dev/null 2>&1; then
		check "fish --no-execute $(basename "$fishcomp")" fish --no-execute "$fishcomp"
	else
		skip "fish not installed"
	fi
fi

# 14-17. The bash completion at work: profiles from both files, commands,
# --credential-source values, and no shell expansion of profile names.
cat >>"$home/.aws/config" <<'EOF'
[ profile   spaced-header ]   # comment
[sso-session corp]
[services local]
# [profile commented-out]
[profile $(touch PWNED)]
EOF
cat >"$home/.aws/credentials" <<'EOF'
[from-credentials]
aws_access_key_id = x
EOF
cat >"$tmp/comp.bash" <<'EOF'
. "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_aws_credproc
printf '%s\n' "${COMPREPLY[@]}"
EOF
complete_bash() { # complete_bash WORDS... (the last is the one being completed)
	(cd "$tmp" && env -i PATH="${PATH:-/usr/bin:/bin}" HOME="$home" \
		bash "$tmp/comp.bash" "$bashcomp" aws-credproc "$@" 2>&1 | LC_ALL=C sort | tr '\n' ' ')
}
expect_bash() { # expect_bash DESCRIPTION WANT WORDS...
	d=$1
	w=$2
	shift 2
	g=$(complete_bash "$@")
	if [ "$g" = "$w" ]; then
		ok "bash completion: $d"
	else
		not_ok "bash completion: $d: got '$g', want '$w'"
	fi
}
if ! $want_comp; then
	skip "completions disabled"
	skip "completions disabled"
	skip "completions disabled"
	skip "completions disabled"
elif ! command -v bash >/dev/null 2>&1; then
	skip "bash not installed"
	skip "bash not installed"
	skip "bash not installed"
	skip "bash not installed"
else
	g=$(complete_bash --profile '')
	w='$(touch PWNED) from-credentials role spaced-header static '
	if [ -e "$tmp/PWNED" ]; then
		not_ok "bash completion: a profile name was run as a command"
	elif [ "$g" = "$w" ]; then
		ok "bash completion: aws-credproc --profile <TAB> lists the profiles of both files"
	else
		not_ok "bash completion: aws-credproc --profile <TAB>: got '$g', want '$w'"
	fi
	expect_bash "aws-credproc explain --source-profile=s<TAB>" \
		'spaced-header static ' explain --source-profile = s
	expect_bash "aws-credproc -p env <TAB> offers the commands" \
		'cache env exec explain list ' -p env ''
	expect_bash "aws-credproc --credential-source E<TAB>" \
		'Ec2InstanceMetadata EcsContainer Environment ' --credential-source E
fi

if [ $failed -ne 0 ]; then
	exit 1
fi
exit 0
