# tests/deps.sh - sourced by check.sh and demo.sh: install what is missing.
#
#   cp_deps_install demo   what the demo needs to build and run the tool
#                          (Debian packages only, Python standard library)
#   cp_deps_install        that and what the whole test suite needs
#
# Sets nothing; returns 1 if packages cannot be installed.

# Build and run: the demo installs only these.
CP_DEPS_DEMO="meson ninja-build pkg-config gcc libc6-dev libcurl4-openssl-dev libssl-dev
	libxml2-dev libcjson-dev curl python3"
# The rest of the test suite (check.sh): sanitizers, valgrind, docs, shells,
# packaging, the AWS CLI, network namespaces, the key stores.
CP_DEPS_TESTS="clang libclang-rt-14-dev valgrind binutils util-linux
	scdoc mandoc zsh fish bash-completion strace
	debhelper dpkg-dev fakeroot lintian rpm awscli faketime iproute2 tmux
	softhsm2 libengine-pkcs11-openssl opensc tpm2-openssl tpm2-tools swtpm swtpm-tools git
	mmdebstrap"

cp_deps_install() {
	if [ "${1:-}" = demo ]; then
		want_pkgs=$CP_DEPS_DEMO
	else
		want_pkgs="$CP_DEPS_DEMO $CP_DEPS_TESTS"
	fi
	need_pkgs=""
	for p in $want_pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			need_pkgs="$need_pkgs $p"
	done
	if [ -n "$need_pkgs" ]; then
		if [ "$(id -u)" = 0 ]; then
			echo "installing:$need_pkgs" >&2
			# Wait for the dpkg lock (unattended-upgrades) instead of failing.
			apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 &&
				DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
					install -y -qq $need_pkgs >&2 || return 1
		else
			echo "missing packages (run as root to install them):$need_pkgs" >&2
			return 1
		fi
	fi
	[ "${1:-}" = demo ] && return 0
	# The test suite runs moto; Debian packages boto3 (python3-boto3) but not
	# moto, and its python3 refuses a system-wide pip install (PEP 668).
	if ! python3 -c 'import moto, boto3' 2>/dev/null; then
		echo "python3 ($(command -v python3)) lacks moto/boto3: install them into a" \
		     "virtual environment and put it first on PATH, e.g." \
		     "apt-get install python3-venv; python3 -m venv ~/.venv/credproc && ~/.venv/credproc/bin/pip install" \
		     "'moto[server]' boto3 && PATH=~/.venv/credproc/bin:\$PATH" >&2
		return 1
	fi
	return 0
}
